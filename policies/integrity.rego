# Integrity of the data documents, checked when the bundle is loaded.
#
# The JSON schemas check each document alone; these rules check that the documents agree
# with each other. A dangling reference would quietly weaken a rule (a misspelt forbidden
# purpose forbids nothing), so the broker refuses to load a bundle where any rule below
# fires: data.broker.integrity.errors must be empty.
package broker.integrity

import data.broker.jurisdictions

errors contains sprintf("jurisdictions.%v.parent: %v is not a known jurisdiction", [j, info.parent]) if {
	some j, info in data.jurisdictions
	not jurisdictions.known(info.parent)
	"parent" in object.keys(info)
}

errors contains sprintf("jurisdictions.%v.country: %v, but its parent %v is in %v", [j, info.country, info.parent, parent.country]) if {
	some j, info in data.jurisdictions
	parent := data.jurisdictions[info.parent]
	parent.country != info.country
}

errors contains sprintf("jurisdictions.%v: its parents form a cycle", [j]) if {
	some j, info in data.jurisdictions
	j in graph.reachable(jurisdictions.parent_graph, {p | p := info.parent})
}

errors contains sprintf("jurisdictions.%v.forbidden_purposes: %v is not a known purpose", [j, purpose]) if {
	some j, info in data.jurisdictions
	some purpose in info.forbidden_purposes
	not data.purposes[purpose]
}

errors contains sprintf("agencies.%v.jurisdiction: %v is not a known jurisdiction", [a, info.jurisdiction]) if {
	some a, info in data.agencies
	not jurisdictions.known(info.jurisdiction)
}

errors contains sprintf("agencies.%v.country: %v, but its jurisdiction %v is in %v", [a, info.country, info.jurisdiction, home.country]) if {
	some a, info in data.agencies
	home := data.jurisdictions[info.jurisdiction]
	home.country != info.country
}

errors contains sprintf("purposes.%v.consent_scope: %v is not a known consent scope", [p, info.consent_scope]) if {
	some p, info in data.purposes
	not data.consent_scopes[info.consent_scope]
	"consent_scope" in object.keys(info)
}

errors contains sprintf("purposes.%v.legal_bases: %v is not a known legal basis", [p, basis]) if {
	some p, info in data.purposes
	some basis in info.legal_bases
	not data.legal_bases[basis]
}

errors contains sprintf("purposes.%v.identify_allowed: %v, but its operations are %v", [p, info.identify_allowed, info.operations]) if {
	some p, info in data.purposes
	info.identify_allowed != ("identify" in info.operations)
}

errors contains sprintf("agreements.%v.parties: %v is not the country of any known jurisdiction", [id, party]) if {
	some id, agreement in data.agreements
	agreement.between == "countries"
	some party in agreement.parties
	not party in {info.country | some info in data.jurisdictions}
}

errors contains sprintf("agreements.%v.parties: %v is not a known agency", [id, party]) if {
	some id, agreement in data.agreements
	agreement.between == "agencies"
	some party in agreement.parties
	not data.agencies[party]
}

errors contains sprintf("agreements.%v.min_score: no floor for %v, which it covers", [id, modality]) if {
	some id, agreement in data.agreements
	some modality in agreement.modalities
	not agreement.min_score[modality]
}

errors contains sprintf("agreements.%v.purposes: %v is not a known purpose", [id, purpose]) if {
	some id, agreement in data.agreements
	some purpose in agreement.purposes
	not data.purposes[purpose]
}

errors contains sprintf("agreements.%v: in_force_until %v is before in_force_from %v", [id, agreement.in_force_until, agreement.in_force_from]) if {
	some id, agreement in data.agreements
	agreement.in_force_until < agreement.in_force_from
}

errors contains sprintf("retention.by_jurisdiction.%v: not a known jurisdiction", [j]) if {
	some j, _ in data.retention.by_jurisdiction
	not jurisdictions.known(j)
}
