package broker.purposes_test

import data.broker.fixtures_test as f
import data.broker.purposes

codes(violations) := {v.code | some v in violations}

test_criminal_investigation_under_warrant_permitted if {
	purposes.request_permitted with input as f.criminal_identify
	count(purposes.violations) == 0 with input as f.criminal_identify
}

test_every_accepted_basis_of_criminal_investigation_permitted if {
	every basis in ["warrant", "case_file", "treaty_request"] {
		purposes.request_permitted with input as f.with_request(f.criminal_identify, {"legal_basis": {"type": basis, "reference": "R-1"}})
	}
}

test_unknown_purpose_denied if {
	doc := f.with_request(f.criminal_identify, {"purpose": "curiosity"})
	not purposes.request_permitted with input as doc
	"unknown_purpose" in codes(purposes.violations) with input as doc
}

test_missing_legal_basis_reference_denied if {
	doc := f.with_request(f.criminal_identify, {"legal_basis": {"type": "warrant", "reference": "  "}})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"missing_legal_basis"} with input as doc
}

test_missing_legal_basis_denied if {
	doc := json.remove(f.criminal_identify, ["request/legal_basis"])
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"missing_legal_basis"} with input as doc
}

test_legal_basis_without_type_denied if {
	doc := f.with_request(f.criminal_identify, {"legal_basis": {"type": "", "reference": "W-1"}})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"missing_legal_basis"} with input as doc
}

test_legal_basis_not_accepted_for_purpose_denied if {
	# Consent is a basis for a missing-person search, not for immigration enforcement.
	doc := f.with_request(f.immigration_identify, {"legal_basis": {"type": "consent", "reference": "C-1"}})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"legal_basis_not_accepted"} with input as doc
}

test_role_not_permitted_denied if {
	# An investigator may not run an immigration-enforcement search.
	doc := f.with_subject(f.immigration_identify, {"roles": ["investigator"]})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"role_not_permitted"} with input as doc
}

test_no_roles_denied if {
	doc := f.with_subject(f.criminal_identify, {"roles": []})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"role_not_permitted"} with input as doc
}

test_operation_not_permitted_for_purpose_denied if {
	# Enrolment is not an identification purpose.
	doc := f.with_request(f.with_subject(f.criminal_identify, {"roles": ["records_officer"]}), {
		"purpose": "enrolment",
		"legal_basis": {"type": "statute", "reference": "S-1"},
	})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"operation_not_permitted"} with input as doc
}

test_identification_purpose_cannot_expunge if {
	doc := f.with_request(f.expunge(f.fbi_investigator), {
		"purpose": "criminal_investigation",
		"legal_basis": {"type": "warrant", "reference": "W-1"},
	})
	not purposes.request_permitted with input as doc
	"operation_not_permitted" in codes(purposes.violations) with input as doc
}

test_enrolment_and_expungement_by_records_officer_permitted if {
	purposes.request_permitted with input as f.enroll(f.fusion_records_officer, f.oregon_record)
	purposes.request_permitted with input as f.expunge(f.fusion_records_officer)
}
