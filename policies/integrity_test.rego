package broker.integrity_test

import data.broker.integrity

test_shipped_data_is_consistent if {
	count(integrity.errors) == 0
}

test_unknown_parent_is_an_error if {
	some message in integrity.errors with data.jurisdictions["US-OR"].parent as "NOWHERE"
	contains(message, "jurisdictions.US-OR.parent")
}

test_parent_in_another_country_is_an_error if {
	some message in integrity.errors with data.jurisdictions["US-OR"].country as "CL"
	contains(message, "jurisdictions.US-OR.country")
}

test_parent_cycle_is_an_error if {
	some message in integrity.errors with data.jurisdictions.US.parent as "US-OR-RIVERTON"
	contains(message, "cycle")
}

# A misspelt forbidden purpose would forbid nothing.
test_misspelt_forbidden_purpose_is_an_error if {
	some message in integrity.errors with data.jurisdictions["US-OR-RIVERTON"].forbidden_purposes as ["immigration_enforcment"]
	contains(message, "immigration_enforcment is not a known purpose")
}

test_agency_in_unknown_jurisdiction_is_an_error if {
	some message in integrity.errors with data.agencies["us-fbi"].jurisdiction as "ATLANTIS"
	contains(message, "agencies.us-fbi.jurisdiction")
}

test_agency_country_disagreeing_with_its_jurisdiction_is_an_error if {
	some message in integrity.errors with data.agencies["cl-pdi"].country as "US"
	contains(message, "agencies.cl-pdi.country")
}

test_unknown_consent_scope_of_a_purpose_is_an_error if {
	some message in integrity.errors with data.purposes.missing_person.consent_scope as "everything"
	contains(message, "purposes.missing_person.consent_scope")
}

test_agreement_with_unknown_party_is_an_error if {
	some message in integrity.errors with data.agreements["us-cl-pcsc"].parties as ["US", "XX"]
	contains(message, "agreements.us-cl-pcsc.parties: XX")
}

test_agreement_for_unknown_purpose_is_an_error if {
	some message in integrity.errors with data.agreements["us-cl-pcsc"].purposes as ["fishing"]
	contains(message, "agreements.us-cl-pcsc.purposes: fishing")
}

test_agreement_ending_before_it_starts_is_an_error if {
	some message in integrity.errors with data.agreements["us-cl-pcsc"].in_force_until as "2010-12-31"
	contains(message, "before in_force_from")
}

test_retention_for_unknown_jurisdiction_is_an_error if {
	some message in integrity.errors with data.retention.by_jurisdiction.ATLANTIS as {"days": {"face": 1}, "source": "x"}
	contains(message, "retention.by_jurisdiction.ATLANTIS")
}

test_unknown_legal_basis_of_a_purpose_is_an_error if {
	some message in integrity.errors with data.purposes.enrolment.legal_bases as ["statute", "divine_right"]
	message == "purposes.enrolment.legal_bases: divine_right is not a known legal basis"
}

test_identify_allowed_disagreeing_with_operations_is_an_error if {
	some message in integrity.errors with data.purposes.identity_confirmation.identify_allowed as true
	message == `purposes.identity_confirmation.identify_allowed: true, but its operations are ["verify"]`
	some other in integrity.errors with data.purposes.missing_person.identify_allowed as false
	contains(other, "purposes.missing_person.identify_allowed: false")
}

test_agreement_between_agencies_with_unknown_party_is_an_error if {
	some message in integrity.errors with data.agreements["fbi-wa-dol-mou"].parties as ["us-fbi", "wa-dmv"]
	message == "agreements.fbi-wa-dol-mou.parties: wa-dmv is not a known agency"
}

test_agreement_without_a_floor_for_a_modality_it_covers_is_an_error if {
	some message in integrity.errors with data.agreements["us-cl-pcsc"].modalities as ["fingerprint", "face"]
	message == "agreements.us-cl-pcsc.min_score: no floor for face, which it covers"
}
