package broker.enrolment_test

import data.broker.enrolment
import data.broker.fixtures_test as f

codes(doc) := result if {
	result := {v.code | some v in enrolment.violations} with input as doc
}

test_fusion_centre_enrols_its_own_record if {
	enrolment.record_admissible with input as f.enroll(f.fusion_records_officer, f.oregon_record)
	codes(f.enroll(f.fusion_records_officer, f.oregon_record)) == set()
}

# The intermediary enrols a copy, with the lineage that keeps the origin's rules.
test_fusion_centre_enrols_a_copy_with_lineage if {
	enrolment.record_admissible with input as f.enroll(f.fusion_records_officer, f.fusion_copy_of_riverton)
}

test_enrolling_for_another_agency_denied if {
	doc := f.enroll(f.fusion_records_officer, f.riverton_record)
	not enrolment.record_admissible with input as doc
	codes(doc) == {"source_agency_mismatch", "lineage_mismatch"}
}

test_lineage_must_end_with_the_enrolling_agency if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"lineage": ["or-fusion", "riverton-pd"]}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"lineage_mismatch"}
}

test_empty_lineage_denied if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"lineage": []}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"lineage_mismatch"}
}

test_unknown_lineage_agency_denied if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"lineage": ["shadow-broker", "or-fusion"]}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"unknown_lineage_agency"}
}

test_unknown_origin_denied if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"origin_jurisdiction": "ATLANTIS"}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"unknown_origin_jurisdiction"}
}

test_missing_origin_denied if {
	doc := f.enroll(f.fusion_records_officer, json.remove(f.oregon_record, ["origin_jurisdiction"]))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"unknown_origin_jurisdiction"}
}

test_unknown_consent_scope_denied if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"consent_scopes": ["marketing"]}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"unknown_consent_scope"}
}

test_capture_in_the_future_denied if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"captured_at": f.days_from_now(1)}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"captured_in_future"}
}

test_capture_exactly_now_admissible if {
	enrolment.record_admissible with input as f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"captured_at": f.now}))
}

test_expired_retention_denied if {
	doc := f.enroll(f.fusion_records_officer, object.union(f.oregon_record, {"retain_until": f.now}))
	not enrolment.record_admissible with input as doc
	codes(doc) == {"retention_expired"}
}

test_no_enrolment_violations_for_other_operations if {
	codes(f.criminal_identify) == set()
}
