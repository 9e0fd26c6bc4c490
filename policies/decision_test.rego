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
		"min_score": 0.5,
		"exclude_origins": ["CL"],
		"required_consent_scope": "criminal_investigation",
		"human_review_required": false,
		"not_captured_before": "2016-06-03T12:00:00Z",
	}
	f.codes(d) == {"allowed", "origin_excluded"}
}

test_allow_says_which_rule_allowed_it if {
	d := decide(f.criminal_identify)
	some reason in d.reasons
	reason == {"code": "allowed", "message": "criminal_investigation permits identify by role investigator under warrant REF-2026-001"}
}

test_purpose_cap_binds_a_greedy_request if {
	d := decide(f.with_request(f.criminal_identify, {"max_results": 500}))
	d.obligations.max_results == 20
}

test_request_cap_binds_when_smaller if {
	d := decide(f.with_request(f.criminal_identify, {"max_results": 3}))
	d.obligations.max_results == 3
}

test_chile_fingerprint_search_allowed_by_agreement if {
	d := decide(f.chile_fingerprint_identify)
	d.allow == true
	d.obligations.max_results == 5
	d.obligations.min_score == 0.6
	d.obligations.human_review_required == true
	d.obligations.exclude_origins == []
	some reason in d.reasons
	reason == {"code": "allowed_by_agreement", "message": "US–Chile PCSC agreement us-cl-pcsc"}
}

test_us_fingerprint_search_of_chile_allowed_by_agreement if {
	d := decide(f.identify(f.fbi_investigator, "criminal_investigation", "warrant", "fingerprint"))
	d.allow == true
	d.obligations.exclude_origins == []
	d.obligations.max_results == 5
	d.obligations.human_review_required == true
}

test_immigration_search_excludes_sanctuary_city_and_chile if {
	d := decide(f.immigration_identify)
	d.allow == true
	d.obligations.exclude_origins == ["CL", "US-OR-RIVERTON"]
	d.obligations.required_consent_scope == "immigration_enforcement"
	d.obligations.min_score == 0.6
	d.obligations.max_results == 10
}

test_chile_face_search_stays_in_chile if {
	d := decide(f.chile_face_identify)
	d.allow == true
	d.obligations.exclude_origins == ["US", "US-OR", "US-OR-RIVERTON"]
	not "allowed_by_agreement" in f.codes(d)
}

test_not_captured_before_follows_the_loosest_searched_limit if {
	# Only Riverton face records (five years) are searched.
	d := decide(f.with_request(f.criminal_identify, {"target_origins": ["US-OR-RIVERTON"]}))
	d.obligations.not_captured_before == "2021-06-02T12:00:00Z"
}

test_no_not_captured_before_unless_a_limit_applies_to_every_searched_origin if {
	d := decide(f.criminal_identify) with data.retention.default_days as {"fingerprint": 3650}
	d.allow == true
	not "not_captured_before" in object.keys(d.obligations)
}

test_verify_allowed_with_search_obligations if {
	d := decide(f.verify(f.fbi_investigator, "criminal_investigation", "warrant", "face"))
	d.allow == true
	d.obligations.max_results == 20
	d.obligations.exclude_origins == ["CL"]
	d.obligations.required_consent_scope == "criminal_investigation"
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
	then := decide(f.with_now(doc, "2017-03-01T00:00:00Z"))
	then.allow == true
	then.obligations.max_results == 3
	then.obligations.min_score == 0.7
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
