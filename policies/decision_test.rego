package broker.decision_test

import data.broker
import data.broker.fixtures_test as f

decide(doc) := decision if {
	decision := broker.decision with input as doc
}

# --- Allowed, with obligations ---

test_domestic_criminal_identify_allowed_with_obligations if {
	d := decide(f.criminal_identify)
	d.allow == true
	d.obligations == {
		"max_results": 10,
		"min_score": 0.45,
		"exclude_origins": ["CL", "US-WA"],
		"required_consent_scope": "criminal_investigation",
		"human_review_required": false,
		"not_captured_before": f.days_ago(3650),
	}
	f.codes(d) == {"allowed", "origin_excluded", "retention_limit"}
}

test_allow_says_which_rule_allowed_it if {
	d := decide(f.criminal_identify)
	some reason in d.reasons
	reason == {"code": "allowed", "message": "criminal_investigation permits identify by role investigator under warrant REF-2026-001"}
}

test_allow_says_which_retention_limit_applies_to_each_searched_origin if {
	d := decide(f.criminal_identify)
	limits := {reason.message | some reason in d.reasons; reason.code == "retention_limit"}
	limits == {
		"US face records: 3650 days from capture (the default schedule, used where no jurisdiction binding the record sets a limit)",
		"US-OR face records: 3650 days from capture (the default schedule, used where no jurisdiction binding the record sets a limit)",
		"US-OR-RIVERTON face records: 1825 days from capture (US-OR-RIVERTON: City of Riverton biometric retention ordinance: face images are kept at most five years.)",
	}
}

test_purpose_cap_binds_a_greedy_request if {
	d := decide(f.with_request(f.criminal_identify, {"max_results": 500}))
	d.obligations.max_results == 20
}

test_request_cap_binds_when_smaller if {
	d := decide(f.with_request(f.criminal_identify, {"max_results": 3}))
	d.obligations.max_results == 3
}

test_score_floor_is_the_purposes_floor_for_the_modality if {
	decide(f.immigration_identify).obligations.min_score == 0.5
	domestic := f.with_request(f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint"), {"target_origins": ["US"]})
	decide(domestic).obligations.min_score == 0.45
}

test_agreement_floor_binds_when_higher if {
	d := decide(f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint"))
	d.obligations.min_score == 0.5
}

test_purpose_without_a_floor_for_the_modality_denies if {
	d := decide(f.criminal_identify) with data.purposes.criminal_investigation as json.remove(data.purposes.criminal_investigation, ["min_score/face"])
	d.allow == false
	f.codes(d) == {"not_permitted"}
}

test_not_captured_before_follows_the_loosest_searched_limit if {
	# Only Riverton face records (five years) are searched.
	d := decide(f.with_request(f.criminal_identify, {"target_origins": ["US-OR-RIVERTON"]}))
	d.obligations.not_captured_before == f.days_ago(1825)
}

test_no_not_captured_before_unless_a_limit_applies_to_every_searched_origin if {
	d := decide(f.criminal_identify) with data.retention.default_days as {"fingerprint": 3650}
	d.allow == true
	not "not_captured_before" in object.keys(d.obligations)
}

test_chile_fingerprint_search_allowed_by_agreement if {
	d := decide(f.chile_fingerprint_identify)
	d.allow == true
	d.obligations.max_results == 5
	d.obligations.min_score == 0.5
	d.obligations.human_review_required == true
	d.obligations.exclude_origins == ["US-WA"]
	d.obligations.results_retain_until == f.days_from_now(365)
	some reason in d.reasons
	reason == {"code": "allowed_by_agreement", "message": "us-cl-pcsc: US–Chile PCSC, between US and CL, in force until 2030-12-31"}
}

test_us_fingerprint_search_of_chile_allowed_by_agreement if {
	d := decide(f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint"))
	d.allow == true
	d.obligations.exclude_origins == ["US-WA"]
	d.obligations.max_results == 5
	d.obligations.human_review_required == true
}

test_domestic_search_carries_no_shared_results_retention if {
	d := decide(f.criminal_identify)
	not "results_retain_until" in object.keys(d.obligations)
}

test_immigration_search_excludes_sanctuary_city_washington_and_chile if {
	d := decide(f.immigration_identify)
	d.allow == true
	d.obligations.exclude_origins == ["CL", "US-OR-RIVERTON", "US-WA"]
	d.obligations.required_consent_scope == "immigration_enforcement"
	d.obligations.min_score == 0.5
	d.obligations.max_results == 10
}

test_chile_face_search_stays_in_chile if {
	d := decide(f.chile_face_identify)
	d.allow == true
	d.obligations.exclude_origins == ["US", "US-OR", "US-OR-RIVERTON", "US-WA"]
	not "allowed_by_agreement" in f.codes(d)
}

test_missing_person_search_requires_human_review if {
	d := decide(f.identify(f.fbi_investigator, "missing_person", "consent", "face"))
	d.allow == true
	d.obligations.human_review_required == true
	d.obligations.required_consent_scope == "missing_person"
}

# --- Agreements between agencies ---

fbi_felony_identify := f.with_offence(f.criminal_identify, "armed_robbery")

test_felony_search_reaches_washington_under_the_mou if {
	d := decide(fbi_felony_identify)
	d.allow == true
	d.obligations == {
		"max_results": 5,
		"min_score": 0.5,
		"exclude_origins": ["CL"],
		"required_consent_scope": "criminal_investigation",
		"human_review_required": true,
		"not_captured_before": f.days_ago(3650),
		"results_retain_until": f.days_from_now(90),
	}
	some reason in d.reasons
	reason == {"code": "allowed_by_agreement", "message": "fbi-wa-dol-mou: FBI–Washington DOL face MOU, between us-fbi and wa-dol, in force until 2027-12-31"}
}

test_misdemeanour_search_does_not_reach_washington if {
	d := decide(f.with_offence(f.criminal_identify, "shoplifting"))
	d.allow == true
	d.obligations.exclude_origins == ["CL", "US-WA"]
	d.obligations.human_review_required == false
	some reason in d.reasons
	reason == {"code": "origin_excluded", "message": "US-WA: US-WA admits agencies from outside only under an agreement in force between us-fbi and an agency based there covering criminal_investigation, face, identify and offence shoplifting"}
}

test_mou_covers_neither_other_agencies_nor_verification if {
	"US-WA" in decide(f.with_offence(f.immigration_identify, "armed_robbery")).obligations.exclude_origins
	verify := f.with_offence(f.verify(f.fbi_investigator, "criminal_investigation", "warrant", "face"), "armed_robbery")
	"US-WA" in decide(verify).obligations.exclude_origins
}

test_mou_confers_nothing_after_it_expires if {
	d := decide(f.with_now(fbi_felony_identify, "2028-01-01T00:00:00Z"))
	"US-WA" in d.obligations.exclude_origins
	not "allowed_by_agreement" in f.codes(d)
}

test_washington_agencies_need_no_agreement_at_home if {
	doc := f.with_subject(f.criminal_identify, {"agency": "wa-dol", "roles": ["investigator"], "jurisdiction": "US-WA"})
	d := decide(doc)
	d.allow == true
	d.obligations.exclude_origins == ["CL"]
	not "allowed_by_agreement" in f.codes(d)
}

test_only_washington_targeted_without_agreement_denied if {
	d := decide(f.with_request(f.criminal_identify, {"target_origins": ["US-WA"]}))
	d.allow == false
	f.codes(d) == {"no_searchable_partition", "origin_excluded"}
}

# --- Verification, enrolment, expungement ---

test_verify_allowed_with_search_obligations if {
	d := decide(f.verify(f.fbi_investigator, "criminal_investigation", "warrant", "face"))
	d.allow == true
	d.obligations.max_results == 20
	d.obligations.exclude_origins == ["CL", "US-WA"]
	d.obligations.required_consent_scope == "criminal_investigation"
}

test_identity_confirmation_verifies_one_to_one if {
	d := decide(f.verify(f.fbi_investigator, "identity_confirmation", "case_file", "face"))
	d.allow == true
	d.obligations.max_results == 1
	d.obligations.min_score == 0.5
}

test_identity_confirmation_never_identifies if {
	d := decide(f.identify(f.fbi_investigator, "identity_confirmation", "case_file", "face"))
	d.allow == false
	f.codes(d) == {"identify_not_permitted"}
}

test_enrolment_allowed_without_search_obligations if {
	d := decide(f.enroll(f.fusion_records_officer, f.oregon_record))
	d.allow == true
	d.obligations == {"exclude_origins": [], "human_review_required": false}
}

test_expungement_allowed if {
	d := decide(f.expunge(f.fusion_records_officer))
	d.allow == true
	d.obligations == {"exclude_origins": [], "human_review_required": false}
}

test_decision_has_exactly_the_documented_shape if {
	every doc in [f.criminal_identify, f.with_request(f.criminal_identify, {"purpose": "curiosity"})] {
		object.keys(decide(doc)) == {"allow", "reasons", "obligations"}
	}
}

# --- Denied, with reasons ---

test_unknown_agency_denied if {
	d := decide(f.with_subject(f.criminal_identify, {"agency": "acme-private-eyes"}))
	d.allow == false
	d.obligations == {}
	f.codes(d) == {"unknown_agency"}
}

test_agency_jurisdiction_mismatch_denied if {
	d := decide(f.with_subject(f.criminal_identify, {"jurisdiction": "CL", "country": "CL"}))
	d.allow == false
	f.codes(d) == {"agency_jurisdiction_mismatch"}
}

test_unknown_purpose_denied if {
	d := decide(f.with_request(f.criminal_identify, {"purpose": "curiosity"}))
	d.allow == false
	f.codes(d) == {"unknown_purpose"}
}

test_missing_legal_basis_denied if {
	d := decide(f.with_request(f.criminal_identify, {"legal_basis": {"type": "warrant", "reference": ""}}))
	d.allow == false
	f.codes(d) == {"missing_legal_basis"}
}

test_legal_basis_not_accepted_denied if {
	d := decide(f.with_request(f.immigration_identify, {"legal_basis": {"type": "case_file", "reference": "CF-1"}}))
	d.allow == false
	f.codes(d) == {"legal_basis_not_accepted"}
}

test_role_not_permitted_denied if {
	d := decide(f.with_subject(f.criminal_identify, {"roles": ["immigration_officer"]}))
	d.allow == false
	f.codes(d) == {"role_not_permitted"}
}

test_protected_attribute_filter_denied if {
	d := decide(f.with_request(f.criminal_identify, {"filters": {"ethnicity": "x"}}))
	d.allow == false
	f.codes(d) == {"protected_attribute_filter"}
}

test_unsupported_filter_denied if {
	d := decide(f.with_request(f.criminal_identify, {"filters": {"hair": "red"}}))
	d.allow == false
	f.codes(d) == {"unsupported_filter"}
}

test_source_agency_filter_allowed if {
	d := decide(f.with_request(f.criminal_identify, {"filters": {"source_agency": "or-fusion"}}))
	d.allow == true
}

test_invalid_max_results_denied if {
	d := decide(f.with_request(f.criminal_identify, {"max_results": 0}))
	d.allow == false
	f.codes(d) == {"invalid_max_results"}
}

test_cross_border_without_agreement_denied if {
	# A Chilean face search where only US face partitions exist.
	doc := object.union(f.chile_face_identify, {"resource": {"partitions": [{"origin_jurisdiction": "US", "modality": "face"}, {"origin_jurisdiction": "US-OR", "modality": "face"}]}})
	d := decide(doc)
	d.allow == false
	d.obligations == {}
	f.codes(d) == {"no_searchable_partition", "origin_excluded"}
}

test_expired_agreement_denied if {
	# The face pilot opened the border in 2017; it does not any more.
	doc := object.union(f.chile_face_identify, {"resource": {"partitions": [{"origin_jurisdiction": "US", "modality": "face"}]}})
	then := decide(f.with_offence(f.with_now(doc, "2017-03-01T00:00:00Z"), "burglary"))
	then.allow == true
	then.obligations.max_results == 3
	then.obligations.min_score == 0.5
	then.obligations.results_retain_until == "2017-08-28T00:00:00Z"
	now := decide(doc)
	now.allow == false
	"no_searchable_partition" in f.codes(now)
}

test_immigration_search_of_the_sanctuary_city_alone_denied if {
	d := decide(f.with_request(f.immigration_identify, {"target_origins": ["US-OR-RIVERTON"]}))
	d.allow == false
	some reason in d.reasons
	reason == {"code": "origin_excluded", "message": "US-OR-RIVERTON: US-OR-RIVERTON forbids immigration_enforcement"}
}

test_expired_pilot_never_covered_lesser_offences if {
	doc := object.union(f.chile_face_identify, {"resource": {"partitions": [{"origin_jurisdiction": "US", "modality": "face"}]}})
	d := decide(f.with_offence(f.with_now(doc, "2017-03-01T00:00:00Z"), "shoplifting"))
	d.allow == false
	"no_searchable_partition" in f.codes(d)
}

test_unknown_offence_denied if {
	d := decide(f.with_offence(f.criminal_identify, "jaywalking"))
	d.allow == false
	f.codes(d) == {"unknown_offence"}
}

test_unknown_legal_basis_denied if {
	d := decide(f.with_request(f.criminal_identify, {"legal_basis": {"type": "hunch", "reference": "H-1"}}))
	d.allow == false
	f.codes(d) == {"unknown_legal_basis"}
}

test_protected_attribute_sort_denied if {
	d := decide(f.with_request(f.criminal_identify, {"sort_by": ["score", "national_origin"]}))
	d.allow == false
	f.codes(d) == {"protected_attribute_sort"}
}

test_unsupported_sort_denied if {
	d := decide(f.with_request(f.criminal_identify, {"sort_by": ["captured_at"]}))
	d.allow == false
	f.codes(d) == {"unsupported_sort"}
}

test_sort_by_score_allowed if {
	decide(f.with_request(f.criminal_identify, {"sort_by": ["score"]})).allow == true
}

test_unknown_operation_denied if {
	d := decide(f.with_request(f.criminal_identify, {"operation": "browse"}))
	d.allow == false
	"unknown_operation" in f.codes(d)
}

test_missing_operation_denied if {
	d := decide(json.remove(f.criminal_identify, ["request/operation"]))
	d.allow == false
	"unknown_operation" in f.codes(d)
}

test_enrolment_for_another_agency_denied if {
	d := decide(f.enroll(f.fusion_records_officer, f.riverton_record))
	d.allow == false
	f.codes(d) == {"source_agency_mismatch", "lineage_mismatch"}
}

test_expungement_by_investigator_denied if {
	d := decide(f.expunge(f.fbi_investigator))
	d.allow == false
	f.codes(d) == {"role_not_permitted"}
}

test_several_failures_give_several_reasons if {
	base := f.with_request(f.with_subject(f.criminal_identify, {"roles": []}), {"filters": {"race": "x"}})
	doc := json.remove(base, ["request/legal_basis/reference"])
	f.codes(decide(doc)) == {"role_not_permitted", "missing_legal_basis", "protected_attribute_filter"}
}

# --- Fail closed ---

test_purpose_without_a_cap_denies_rather_than_search_unbounded if {
	d := decide(f.criminal_identify) with data.purposes.criminal_investigation as json.remove(data.purposes.criminal_investigation, ["max_results"])
	d.allow == false
	f.codes(d) == {"not_permitted"}
}

test_empty_input_denied if {
	d := decide({})
	d.allow == false
	count(d.reasons) > 0
}
