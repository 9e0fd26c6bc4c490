# The decision on one request: data.broker.decision.
#
#   {"allow": bool, "reasons": [{"code", "message"}], "obligations": {...}}
#
# Default deny: `allow` is true only when every check below positively passes. Reasons
# explain a decision, they never make one; when nothing permits a request and no rule says
# why, the reason is "not_permitted". On a denial the obligations are {}.
package broker

import data.broker.agencies
import data.broker.clock
import data.broker.consent
import data.broker.enrolment
import data.broker.jurisdictions
import data.broker.minimisation
import data.broker.offences
import data.broker.purposes
import data.broker.retention
import data.broker.scope

decision := {"allow": true, "reasons": allow_reasons, "obligations": obligations} if {
	allow
} else := {"allow": false, "reasons": deny_reasons, "obligations": {}}

default allow := false

# allow: the caller is who our data says, the purpose permits this request, the offence
# (if any) is known, the filters and sort keys minimise without discriminating, the
# operation's own checks pass, and the obligations could be computed in full.
allow if {
	agencies.subject_verified
	purposes.request_permitted
	offences.offence_valid
	minimisation.filters_permitted
	minimisation.sort_permitted
	operation_checks_pass
	is_object(obligations)
}

known_operations := {"identify", "verify", "enroll", "expunge"}

# identify: names a valid number of candidates and can reach at least one origin.
operation_checks_pass if {
	input.request.operation == "identify"
	minimisation.max_results_valid
	count(scope.searchable_origins) > 0
}

# verify: can reach at least one origin (the record's own is checked at release).
operation_checks_pass if {
	input.request.operation == "verify"
	count(scope.searchable_origins) > 0
}

# enroll: the record and its provenance are admissible (see enrolment.rego).
operation_checks_pass if {
	input.request.operation == "enroll"
	enrolment.record_admissible
}

# expunge: purpose, legal basis and role are all it takes (checked in purposes.rego).
operation_checks_pass if input.request.operation == "expunge"

# --- Obligations on an allow ---

obligations := object.union_n([search_obligations, retention_obligation, shared_results_obligation]) if {
	input.request.operation in purposes.search_operations
}

# Enrolment and expungement search nothing: nothing to cap, exclude or review.
obligations := {"exclude_origins": [], "human_review_required": false} if {
	input.request.operation in {"enroll", "expunge"}
}

# The tightest of every applicable limit: the request's own, the purpose's, and every
# agreement that opens something for this query. If the purpose lacks a cap, a floor for
# the modality or a consent scope, the obligations are undefined and the request is denied.
search_obligations := {
	"max_results": min(({purposes.purpose.max_results} | requested_cap) | agreement_caps),
	"min_score": max({purposes.min_score} | agreement_floors),
	"exclude_origins": sort(scope.excluded_origins),
	"required_consent_scope": consent.required_scope,
	"human_review_required": human_review_required,
}

requested_cap := {input.request.max_results} if minimisation.max_results_valid else := set()

agreement_caps := {data.agreements[id].max_results | some id in scope.applicable_agreements}

agreement_floors := {data.agreements[id].min_score[input.request.modality] | some id in scope.applicable_agreements}

default human_review_required := false

human_review_required if purposes.purpose.human_review_required == true

human_review_required if {
	some id in scope.applicable_agreements
	data.agreements[id].human_review_required == true
}

# not_captured_before: a record captured earlier is past the retention limit of every
# origin searched, so the matcher need not look at it. The release rule still checks each
# record against its own chain, which can only be stricter.
retention_obligation := {"not_captured_before": clock.rfc3339(oldest)} if {
	limits := [limit |
		some origin in scope.searchable_origins
		limit := retention.limit_days(jurisdictions.chain(origin), input.request.modality)
	]
	count(limits) > 0
	count(limits) == count(scope.searchable_origins)
	oldest := clock.now_ns - (max(limits) * clock.day_ns)
} else := {}

# results_retain_until: results shared under an agreement may be kept only as long as the
# strictest of those agreements allows, counted from now.
shared_results_obligation := {"results_retain_until": clock.rfc3339(clock.now_ns + (min(days) * clock.day_ns))} if {
	days := {data.agreements[id].shared_results_retention_days | some id in scope.applicable_agreements}
	count(days) > 0
} else := {}

# --- Reasons ---

allow_reasons := [reason | some reason in allow_reason_set]

allow_reason_set contains {
	"code": "allowed",
	"message": sprintf("%v permits %v by role %v under %v %v", [
		input.request.purpose, input.request.operation,
		concat(", ", sort([role | some role in input.subject.roles; role in purposes.purpose.roles])),
		input.request.legal_basis.type, input.request.legal_basis.reference,
	]),
}

allow_reason_set contains {
	"code": "allowed_by_agreement",
	"message": sprintf("%v: %v, between %v, in force until %v", [
		id, agreement.name, concat(" and ", agreement.parties), agreement.in_force_until,
	]),
} if {
	some id in scope.applicable_agreements
	agreement := data.agreements[id]
}

allow_reason_set contains exclusion if {
	input.request.operation in purposes.search_operations
	some exclusion in scope.exclusions
}

# The decision says which retention limit applies to each origin it searches.
allow_reason_set contains {
	"code": "retention_limit",
	"message": sprintf("%v %v records: %v", [
		origin, input.request.modality,
		retention.limit_explained(jurisdictions.chain(origin), input.request.modality),
	]),
} if {
	input.request.operation in purposes.search_operations
	some origin in scope.searchable_origins
}

# Every check's explanation, from every module.
violations := union({
	agencies.violations,
	purposes.violations,
	offences.violations,
	minimisation.violations,
	scope.violations,
	enrolment.violations,
	operation_violations,
})

operation_violations contains {
	"code": "unknown_operation",
	"message": sprintf("operation %v is not known", [object.get(input, ["request", "operation"], null)]),
} if {
	not object.get(input, ["request", "operation"], null) in known_operations
}

deny_reasons := [reason | some reason in violations] if {
	count(violations) > 0
} else := [{"code": "not_permitted", "message": "no rule positively permits this request"}]
