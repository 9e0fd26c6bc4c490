# The release rule: data.broker.release.
#
# Input:  {subject, request, context, obligations, candidates: [{record_id, score, provenance}]}
# Output: {"released": [record_id...], "withheld": [{"record_id", "reasons": [code...]}]}
#
# Every candidate appears in exactly one of the two lists, in the matcher's order. A
# candidate is released only when every condition in `releasable` positively holds; the
# withheld reasons explain, they do not decide. data.broker.release_explained gives the same
# reasons with messages (which retention limit applied, which jurisdiction forbids, ...).
package broker

import data.broker.agreements
import data.broker.consent
import data.broker.jurisdictions
import data.broker.outside_access
import data.broker.provenance
import data.broker.retention

release := {
	"released": [c.record_id | some c in input.candidates; releasable(c)],
	"withheld": [{"record_id": c.record_id, "reasons": withheld_codes(c)} |
		some c in input.candidates
		not releasable(c)
	],
}

releasable(c) if {
	p := c.provenance
	retention.retained(p)
	within_retention_limit(p)
	consent.has_scope(p, input.obligations.required_consent_scope)
	consent.not_withdrawn(p)
	provenance.permits_purpose(p, input.request.purpose)
	origin_not_excluded(p)
	borders_crossed_under_agreement(p)
	outside_access.admitted(provenance.chain(p))
	meets_min_score(c)
}

# The retention limit is the strictest of every jurisdiction that binds the record: its
# origin's chain and every intermediary's.
within_retention_limit(p) if retention.within_limit(p.captured_at, provenance.chain(p), input.request.modality)

origin_not_excluded(p) if {
	excluded := input.obligations.exclude_origins
	origin := p.origin_jurisdiction
	is_string(origin)
	not origin in excluded
}

# Every country the record belongs to (its origin's, and every intermediary's) is the
# caller's own, or an agreement in force opens that border for this request.
borders_crossed_under_agreement(p) if {
	provenance.chain_known(p)
	every country in provenance.countries(p) {
		country_open(country)
	}
}

country_open(country) if country == input.subject.country

country_open(country) if count(agreements.covering(input.subject.country, country)) > 0

meets_min_score(c) if {
	is_number(c.score)
	is_number(input.obligations.min_score)
	c.score >= input.obligations.min_score
}

# --- Why a candidate is withheld ---

withheld_codes(c) := codes if {
	codes := sort({reason.code | some reason in object.get(withheld_because, c.record_id, set())})
	count(codes) > 0
} else := ["not_releasable"]

release_explained := {c.record_id: sort(object.get(withheld_because, c.record_id, set())) |
	some c in input.candidates
	not releasable(c)
}

withheld_because[c.record_id] contains {
	"code": "retention_expired",
	"message": sprintf("retain_until %v has passed", [c.provenance.retain_until]),
} if {
	some c in input.candidates
	not retention.retained(c.provenance)
}

withheld_because[c.record_id] contains {
	"code": "retention_expired",
	"message": sprintf("captured %v; %v records are kept %v days (limit set by %v)", [
		c.provenance.captured_at, input.request.modality,
		retention.limit_days(provenance.chain(c.provenance), input.request.modality),
		concat(", ", retention.limit_source(provenance.chain(c.provenance), input.request.modality)),
	]),
} if {
	some c in input.candidates
	not within_retention_limit(c.provenance)
}

withheld_because[c.record_id] contains {
	"code": "retention_limit_unknown",
	"message": sprintf("no retention limit is defined for %v", [object.get(input, ["request", "modality"], null)]),
} if {
	some c in input.candidates
	not retention.limit_days(provenance.chain(c.provenance), input.request.modality)
}

withheld_because[c.record_id] contains {
	"code": "consent_scope_missing",
	"message": sprintf("consent scopes %v do not include %v", [
		object.get(c.provenance, "consent_scopes", []),
		object.get(input, ["obligations", "required_consent_scope"], null),
	]),
} if {
	some c in input.candidates
	not consent.has_scope(c.provenance, object.get(input, ["obligations", "required_consent_scope"], null))
}

withheld_because[c.record_id] contains {
	"code": "consent_withdrawn",
	"message": sprintf("consent withdrawn at %v", [c.provenance.consent_withdrawn_at]),
} if {
	some c in input.candidates
	not consent.not_withdrawn(c.provenance)
}

withheld_because[c.record_id] contains {
	"code": "unknown_lineage_agency",
	"message": sprintf("the record passed through agency %v, which is not known", [agency]),
} if {
	some c in input.candidates
	some agency in provenance.unknown_agencies(c.provenance)
}

withheld_because[c.record_id] contains {
	"code": "unknown_origin_jurisdiction",
	"message": sprintf("origin jurisdiction %v is not known", [object.get(c.provenance, "origin_jurisdiction", null)]),
} if {
	some c in input.candidates
	not data.jurisdictions[object.get(c, ["provenance", "origin_jurisdiction"], null)]
}

withheld_because[c.record_id] contains {
	"code": "jurisdiction_forbids_purpose",
	"message": sprintf("%v forbids %v for this record", [concat(", ", sort(forbidding)), input.request.purpose]),
} if {
	some c in input.candidates
	forbidding := provenance.forbidding(c.provenance, input.request.purpose)
	count(forbidding) > 0
}

withheld_because[c.record_id] contains {
	"code": "origin_excluded",
	"message": sprintf("origin %v is excluded by the decision's obligations", [object.get(c.provenance, "origin_jurisdiction", null)]),
} if {
	some c in input.candidates
	not origin_not_excluded(c.provenance)
}

withheld_because[c.record_id] contains {
	"code": "no_agreement",
	"message": sprintf("a record of %v reaches %v only under an agreement in force covering %v, %v, %v", [
		country, input.subject.country,
		input.request.purpose, input.request.modality, input.request.operation,
	]),
} if {
	some c in input.candidates
	provenance.chain_known(c.provenance)
	some country in provenance.countries(c.provenance)
	not country_open(country)
}

withheld_because[c.record_id] contains {
	"code": "no_agency_agreement",
	"message": sprintf("%v admits agencies from outside only under an agreement in force between %v and an agency based there covering %v, %v, %v", [
		gate, input.subject.agency,
		input.request.purpose, input.request.modality, input.request.operation,
	]),
} if {
	some c in input.candidates
	provenance.chain_known(c.provenance)
	some gate in outside_access.closed(provenance.chain(c.provenance))
}

withheld_because[c.record_id] contains {
	"code": "below_min_score",
	"message": sprintf("score %v is below the minimum %v", [c.score, object.get(input, ["obligations", "min_score"], null)]),
} if {
	some c in input.candidates
	not meets_min_score(c)
}
