package broker.consent_test

import data.broker.consent
import data.broker.fixtures_test as f

test_required_scope_is_the_purposes if {
	consent.required_scope == "criminal_investigation" with input as f.criminal_identify
	consent.required_scope == "immigration_enforcement" with input as f.immigration_identify
}

test_no_scope_for_unknown_purpose if {
	not consent.required_scope with input as f.with_request(f.criminal_identify, {"purpose": "curiosity"})
}

test_known_scopes if {
	consent.known_scope("missing_person")
	not consent.known_scope("marketing")
}

test_has_scope if {
	consent.has_scope(f.oregon_record, "missing_person")
	not consent.has_scope(object.union(f.oregon_record, {"consent_scopes": ["missing_person"]}), "criminal_investigation")
}

test_consent_never_withdrawn_holds if {
	consent.not_withdrawn(f.oregon_record) with input as f.criminal_identify
}

test_consent_withdrawn_in_the_past_does_not_hold if {
	record := object.union(f.oregon_record, {"consent_withdrawn_at": f.days_ago(516)})
	not consent.not_withdrawn(record) with input as f.criminal_identify
}

test_consent_withdrawn_exactly_now_does_not_hold if {
	record := object.union(f.oregon_record, {"consent_withdrawn_at": f.now})
	not consent.not_withdrawn(record) with input as f.criminal_identify
}

test_withdrawal_taking_effect_later_still_holds if {
	record := object.union(f.oregon_record, {"consent_withdrawn_at": f.days_from_now(213)})
	consent.not_withdrawn(record) with input as f.criminal_identify
}
