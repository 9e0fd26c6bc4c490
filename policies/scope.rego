# Search scope: which origins (gallery partitions) a search may reach.
#
# An origin is searchable only when all of these hold: it is a known jurisdiction; neither
# it nor any ancestor forbids the purpose; the request targets it (or targets nothing in
# particular); it is domestic, or an agreement between countries in force covers this
# request across the border; and every jurisdiction in its chain that admits outside
# agencies only by agreement admits the caller under one. Every other origin goes into the
# obligation exclude_origins.
package broker.scope

import data.broker.agreements
import data.broker.jurisdictions
import data.broker.outside_access

# origins_in_scope: identify reaches the partitions of the requested modality that exist;
# verify may meet a record of any known origin.
origins_in_scope := {p.origin_jurisdiction |
	some p in object.get(input, ["resource", "partitions"], [])
	p.modality == input.request.modality
} if {
	input.request.operation == "identify"
}

origins_in_scope := {j | some j, _ in data.jurisdictions} if {
	input.request.operation == "verify"
}

target_origins := object.get(input.request, "target_origins", [])

targeted(origin) if count(target_origins) == 0

targeted(origin) if origin in target_origins

domestic(origin) if jurisdictions.country_of(origin) == input.subject.country

# agreements_reaching(origin): the agreements between countries that open the border to
# this origin.
agreements_reaching(origin) := agreements.covering(input.subject.country, jurisdictions.country_of(origin))

border_open(origin) if domestic(origin)

border_open(origin) if count(agreements_reaching(origin)) > 0

reachable(origin) if {
	border_open(origin)
	outside_access.admitted(jurisdictions.chain(origin))
}

searchable(origin) if {
	jurisdictions.permits_purpose(origin, input.request.purpose)
	targeted(origin)
	reachable(origin)
}

searchable_origins := {o | some o in origins_in_scope; searchable(o)}

excluded_origins := origins_in_scope - searchable_origins

# applicable_agreements: the agreements that open a searched origin, across a border or
# through a jurisdiction's gate. Their limits bind the whole query.
applicable_agreements := border_agreements | gate_agreements

border_agreements := {id |
	some origin in searchable_origins
	not domestic(origin)
	some id in agreements_reaching(origin)
}

gate_agreements := {id |
	some origin in searchable_origins
	some gate in outside_access.gates(jurisdictions.chain(origin))
	some id in outside_access.opening(gate)
}

# Why each excluded origin is excluded (reasons on an allow, or on a denial of everything).
exclusions contains {
	"code": "origin_excluded",
	"message": sprintf("%v: not a known jurisdiction", [origin]),
} if {
	some origin in excluded_origins
	not jurisdictions.known(origin)
}

exclusions contains {
	"code": "origin_excluded",
	"message": sprintf("%v: %v forbids %v", [origin, concat(", ", sort(forbidding)), input.request.purpose]),
} if {
	some origin in excluded_origins
	forbidding := jurisdictions.forbidding(origin, input.request.purpose)
	count(forbidding) > 0
}

exclusions contains {
	"code": "origin_excluded",
	"message": sprintf("%v: not among the request's target origins", [origin]),
} if {
	some origin in excluded_origins
	not targeted(origin)
}

exclusions contains {
	"code": "origin_excluded",
	"message": sprintf(
		"%v: cross-border (%v to %v) without an agreement in force covering %v, %v, %v",
		[
			origin, input.subject.country, jurisdictions.country_of(origin),
			input.request.purpose, input.request.modality, input.request.operation,
		],
	),
} if {
	some origin in excluded_origins
	jurisdictions.known(origin)
	not border_open(origin)
}

exclusions contains {
	"code": "origin_excluded",
	"message": sprintf(
		"%v: %v admits agencies from outside only under an agreement in force between %v and an agency based there covering %v, %v, %v%v",
		[
			origin, gate, input.subject.agency,
			input.request.purpose, input.request.modality, input.request.operation,
			offence_clause,
		],
	),
} if {
	some origin in excluded_origins
	jurisdictions.known(origin)
	some gate in outside_access.closed(jurisdictions.chain(origin))
}

offence_clause := sprintf(" and offence %v", [input.request.offence]) if {
	object.get(input.request, "offence", "") != ""
} else := " (no offence named)"

violations contains {
	"code": "no_searchable_partition",
	"message": sprintf("no origin may be searched for %v (%v)", [
		object.get(input.request, "purpose", null),
		object.get(input.request, "modality", null),
	]),
} if {
	input.request.operation in {"identify", "verify"}
	count(searchable_origins) == 0
}

# A denial of everything also says why each origin was excluded.
violations contains exclusion if {
	input.request.operation in {"identify", "verify"}
	count(searchable_origins) == 0
	some exclusion in exclusions
}
