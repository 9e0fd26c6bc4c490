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
	# Enrolment is not a verification purpose.
	doc := f.with_request(f.with_subject(f.verify(f.fbi_investigator, "enrolment", "statute", "face"), {"roles": ["records_officer"]}), {
		"legal_basis": {"type": "statute", "reference": "S-1"},
	})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"operation_not_permitted"} with input as doc
}

test_identification_for_a_purpose_that_never_identifies_denied if {
	# Enrolment does not identify, and says so: identify_allowed is false.
	doc := f.with_request(f.with_subject(f.criminal_identify, {"roles": ["records_officer"]}), {
		"purpose": "enrolment",
		"legal_basis": {"type": "statute", "reference": "S-1"},
	})
	not purposes.request_permitted with input as doc
	codes(purposes.violations) == {"identify_not_permitted"} with input as doc
}

test_identify_listed_but_not_allowed_denied if {
	# A purpose must both list identify and allow it: one without the other is not enough.
	not purposes.operation_permitted with input as f.criminal_identify
		with data.purposes.criminal_investigation.identify_allowed as false
	"identify_not_permitted" in codes(purposes.violations) with input as f.criminal_identify
		with data.purposes.criminal_investigation.identify_allowed as false
	not purposes.operation_permitted with input as f.identify(f.fbi_investigator, "identity_confirmation", "case_file", "face")
		with data.purposes.identity_confirmation.identify_allowed as true
}

test_verification_only_purpose_permits_verification if {
	purposes.request_permitted with input as f.verify(f.fbi_investigator, "identity_confirmation", "consent", "face")
}

test_unknown_kind_of_legal_basis_denied if {
	# Even a purpose listing it cannot accept a basis data.legal_bases does not describe.
	doc := f.with_request(f.criminal_identify, {"legal_basis": {"type": "hunch", "reference": "H-1"}})
	not purposes.request_permitted with input as doc
		with data.purposes.criminal_investigation.legal_bases as ["hunch"]
	codes(purposes.violations) == {"unknown_legal_basis"} with input as doc
}

test_accepted_legal_bases_are_named_when_one_is_refused if {
	doc := f.with_request(f.immigration_identify, {"legal_basis": {"type": "consent", "reference": "C-1"}})
	some v in purposes.violations with input as doc
	v.message == "purpose immigration_enforcement does not accept legal basis consent (it accepts administrative_warrant, warrant)"
}

test_floor_for_the_modality if {
	purposes.min_score == 0.45 with input as f.criminal_identify
	purposes.min_score == 0.5 with input as f.immigration_identify
	not purposes.min_score with input as f.with_request(f.criminal_identify, {"modality": "iris"})
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
