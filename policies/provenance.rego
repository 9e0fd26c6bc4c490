# Provenance: what a record's history binds it to.
#
# Restrictions travel with the record. A record is bound by its origin jurisdiction and its
# ancestors AND by the home jurisdiction (and ancestors) of every agency it passed through.
# So a City of Riverton record copied by the state fusion centre keeps Riverton's rules,
# even when the copy was relabelled with origin "US-OR".
package broker.provenance

import data.broker.agencies
import data.broker.jurisdictions

# agencies_of(p): every agency the record passed through, including its source agency.
agencies_of(p) := {a | some a in p.lineage} | {p.source_agency}

unknown_agencies(p) := {a | some a in agencies_of(p); not agencies.known(a)}

# roots(p): the origin and the home jurisdiction of every agency of the record.
roots(p) := {p.origin_jurisdiction} | {agencies.home_jurisdiction(a) | some a in agencies_of(p)}

# chain_known(p): the origin, every agency and every agency's jurisdiction are known, so
# the record's full chain can be checked. A record with an unknown link binds to nothing
# we could check, and is released to no one.
chain_known(p) if {
	count(unknown_agencies(p)) == 0
	every root in roots(p) {
		jurisdictions.known(root)
	}
}

# chain(p): every jurisdiction whose rules bind the record.
chain(p) := {j | some root in roots(p); some j in jurisdictions.chain(root)}

# countries(p): every country whose records this is (the origin's, and every intermediary's).
countries(p) := {jurisdictions.country_of(j) | some j in chain(p)}

# permits_purpose(p, purpose): no jurisdiction in the record's chain forbids the purpose.
permits_purpose(p, purpose) if {
	chain_known(p)
	every root in roots(p) {
		jurisdictions.permits_purpose(root, purpose)
	}
}

# forbidding(p, purpose): the jurisdictions in the record's chain that forbid the purpose.
forbidding(p, purpose) := {j | some root in roots(p); some j in jurisdictions.forbidding(root, purpose)}
