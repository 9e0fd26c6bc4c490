package broker.scope_test

import data.broker.fixtures_test as f
import data.broker.scope

test_domestic_search_reaches_every_domestic_partition_of_the_modality if {
	scope.origins_in_scope == {"US", "US-OR", "US-OR-RIVERTON", "US-WA", "CL"} with input as f.criminal_identify
	scope.searchable_origins == {"US", "US-OR", "US-OR-RIVERTON"} with input as f.criminal_identify
	scope.excluded_origins == {"CL", "US-WA"} with input as f.criminal_identify
	scope.applicable_agreements == set() with input as f.criminal_identify
}

test_only_partitions_of_the_requested_modality_count if {
	doc := object.union(f.criminal_identify, {"resource": {"partitions": [{"origin_jurisdiction": "US", "modality": "fingerprint"}]}})
	scope.origins_in_scope == set() with input as doc
	"no_searchable_partition" in {v.code | some v in scope.violations} with input as doc
}

test_immigration_search_excludes_riverton_washington_and_chile if {
	scope.excluded_origins == {"US-OR-RIVERTON", "US-WA", "CL"} with input as f.immigration_identify
	some reason in scope.exclusions with input as f.immigration_identify
	reason.message == "US-OR-RIVERTON: US-OR-RIVERTON forbids immigration_enforcement"
}

test_cross_border_without_agreement_excluded if {
	scope.excluded_origins == {"US", "US-OR", "US-OR-RIVERTON", "US-WA"} with input as f.chile_face_identify
	some reason in scope.exclusions with input as f.chile_face_identify
	reason.message == "US: cross-border (CL to US) without an agreement in force covering criminal_investigation, face, identify"
}

test_agreement_opens_the_border if {
	scope.excluded_origins == {"US-WA"} with input as f.chile_fingerprint_identify
	scope.applicable_agreements == {"us-cl-pcsc"} with input as f.chile_fingerprint_identify
}

test_target_origins_narrow_the_search if {
	doc := f.with_request(f.criminal_identify, {"target_origins": ["US-OR"]})
	scope.searchable_origins == {"US-OR"} with input as doc
	scope.excluded_origins == {"US", "US-OR-RIVERTON", "US-WA", "CL"} with input as doc
	some reason in scope.exclusions with input as doc
	reason.message == "US: not among the request's target origins"
}

test_targeting_does_not_open_a_border if {
	doc := f.with_request(f.chile_face_identify, {"target_origins": ["US"]})
	scope.searchable_origins == set() with input as doc
}

test_domestic_partitions_do_not_apply_agreement_limits if {
	doc := f.with_request(f.chile_fingerprint_identify, {"target_origins": ["CL"]})
	scope.applicable_agreements == set() with input as doc
}

test_unknown_partition_origin_excluded if {
	doc := object.union(f.criminal_identify, {"resource": {"partitions": [{"origin_jurisdiction": "ATLANTIS", "modality": "face"}, {"origin_jurisdiction": "US", "modality": "face"}]}})
	scope.excluded_origins == {"ATLANTIS"} with input as doc
	some reason in scope.exclusions with input as doc
	reason.message == "ATLANTIS: not a known jurisdiction"
}

test_identify_without_partitions_has_nothing_to_search if {
	doc := json.remove(f.criminal_identify, ["resource/partitions"])
	scope.searchable_origins == set() with input as doc
	{v.code | some v in scope.violations} == {"no_searchable_partition"} with input as doc
}

test_verify_may_meet_any_known_origin if {
	doc := f.verify(f.hsi_officer, "immigration_enforcement", "warrant", "face")
	scope.origins_in_scope == {"US", "US-OR", "US-OR-RIVERTON", "US-WA", "CL"} with input as doc
	scope.excluded_origins == {"US-OR-RIVERTON", "US-WA", "CL"} with input as doc
}

test_no_searchable_partition_is_a_violation_with_its_causes if {
	doc := object.union(f.chile_face_identify, {"resource": {"partitions": [{"origin_jurisdiction": "US", "modality": "face"}]}})
	codes := {v.code | some v in scope.violations} with input as doc
	codes == {"no_searchable_partition", "origin_excluded"}
}

test_enrolment_has_no_search_scope_violation if {
	count(scope.violations) == 0 with input as f.enroll(f.fusion_records_officer, f.oregon_record)
}

# --- Jurisdictions that admit outside agencies only by agreement ---

test_washington_is_closed_without_an_agreement if {
	some reason in scope.exclusions with input as f.criminal_identify
	reason.message == "US-WA: US-WA admits agencies from outside only under an agreement in force between us-fbi and an agency based there covering criminal_investigation, face, identify (no offence named)"
}

test_agreement_between_agencies_opens_washington if {
	doc := f.with_offence(f.criminal_identify, "homicide")
	scope.searchable_origins == {"US", "US-OR", "US-OR-RIVERTON", "US-WA"} with input as doc
	scope.applicable_agreements == {"fbi-wa-dol-mou"} with input as doc
	scope.gate_agreements == {"fbi-wa-dol-mou"} with input as doc
	scope.border_agreements == set() with input as doc
}

test_a_gate_and_a_border_both_need_their_agreement if {
	# Chile's PDI under the PCSC reaches US fingerprints, but not Washington's: the PCSC
	# opens the border, and no agreement between agencies opens Washington to the PDI.
	scope.searchable_origins == {"US", "US-OR", "US-OR-RIVERTON", "CL"} with input as f.chile_fingerprint_identify
	some reason in scope.exclusions with input as f.chile_fingerprint_identify
	startswith(reason.message, "US-WA: US-WA admits agencies from outside only")
}
