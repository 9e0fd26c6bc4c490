# Jurisdictions and their rules (data.jurisdictions).
#
# Jurisdictions form a tree through their `parent` field: City of Riverton → State of
# Oregon → United States. A purpose a jurisdiction forbids is forbidden for every record
# originating in it or in any jurisdiction below it.
package broker.jurisdictions

# known(j): the jurisdiction is described in data.jurisdictions.
known(j) if data.jurisdictions[j]

# The tree as a graph: each jurisdiction points to its parent (roots point nowhere).
parent_graph := {j: [p | p := info.parent] | some j, info in data.jurisdictions}

# chain(j): j and all its ancestors, e.g. {"US-OR-RIVERTON", "US-OR", "US"}.
# It is EMPTY for an unknown jurisdiction, so every rule that iterates it also checks known(j).
chain(j) := graph.reachable(parent_graph, {j})

# country_of(j): the country whose law ultimately governs the jurisdiction.
country_of(j) := data.jurisdictions[j].country

# permits_purpose(j, purpose): j is known and neither j nor any ancestor forbids the purpose.
# Each ancestor's list is bound before it is searched, so an entry that lacks
# `forbidden_purposes`, or names a parent that is not known, permits nothing (fail closed).
permits_purpose(j, purpose) if {
	known(j)
	every ancestor in chain(j) {
		parent_known(ancestor)
		forbidden := data.jurisdictions[ancestor].forbidden_purposes
		not purpose in forbidden
	}
}

# parent_known(j): j is a root, or its parent is known (the chain is not cut short).
parent_known(j) if not "parent" in object.keys(data.jurisdictions[j])

parent_known(j) if known(data.jurisdictions[j].parent)

# forbidding(j, purpose): the jurisdictions in j's chain that forbid the purpose; explains
# an exclusion or a withheld record.
forbidding(j, purpose) := {a |
	some a in chain(j)
	purpose in data.jurisdictions[a].forbidden_purposes
}
