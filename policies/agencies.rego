# Agencies (data.agencies) and the caller's identity.
#
# The subject comes from verified token claims. The agency must be one we know, and the
# jurisdiction and country in its token must be the ones our data records for it: a token
# cannot move an agency into another jurisdiction.
package broker.agencies

import data.broker.jurisdictions

# subject_verified: the caller's agency is known, its token agrees with our data, and its
# home jurisdiction is known.
subject_verified if {
	agency := data.agencies[input.subject.agency]
	token_agrees_with(agency)
	jurisdictions.known(agency.jurisdiction)
}

token_agrees_with(agency) if {
	agency.jurisdiction == input.subject.jurisdiction
	agency.country == input.subject.country
}

# home_jurisdiction(agency): the jurisdiction whose law the agency works under.
home_jurisdiction(agency) := data.agencies[agency].jurisdiction

# known(agency): the agency is described in data.agencies.
known(agency) if data.agencies[agency]

violations contains {
	"code": "unknown_agency",
	"message": sprintf("agency %v is not known", [object.get(input, ["subject", "agency"], null)]),
} if {
	# OPA evaluates a key before negating: `not data.agencies[input.subject.agency]` would
	# not fire for a missing agency. The default (null) makes it fire.
	not data.agencies[object.get(input, ["subject", "agency"], null)]
}

violations contains {
	"code": "agency_jurisdiction_mismatch",
	"message": sprintf(
		"token says agency %v is in %v (%v); our data says %v (%v)",
		[
			input.subject.agency,
			object.get(input, ["subject", "jurisdiction"], null),
			object.get(input, ["subject", "country"], null),
			agency.jurisdiction, agency.country,
		],
	),
} if {
	agency := data.agencies[input.subject.agency]
	not token_agrees_with(agency)
}
