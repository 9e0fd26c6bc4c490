package broker.outside_access_test

import data.broker.fixtures_test as f
import data.broker.outside_access

washington := {"US-WA", "US"}

fbi_felony_identify := f.with_offence(f.criminal_identify, "armed_robbery")

test_only_washington_admits_by_agreement if {
	outside_access.open("US")
	outside_access.open("US-OR-RIVERTON")
	outside_access.open("CL")
	not outside_access.open("US-WA")
}

test_a_jurisdiction_without_outside_access_is_closed if {
	not outside_access.open("US") with data.jurisdictions.US as json.remove(data.jurisdictions.US, ["outside_access"])
	not outside_access.open("NOWHERE")
}

test_outside_agencies_meet_the_gate if {
	outside_access.gates(washington) == {"US-WA"} with input as f.criminal_identify
	outside_access.closed(washington) == {"US-WA"} with input as f.criminal_identify
	not outside_access.admitted(washington) with input as f.criminal_identify
}

test_agencies_based_inside_pass_the_gate if {
	doc := f.with_subject(f.criminal_identify, {"agency": "wa-dol", "jurisdiction": "US-WA"})
	outside_access.caller_within("US-WA") with input as doc
	outside_access.gates(washington) == set() with input as doc
	outside_access.admitted(washington) with input as doc
}

test_an_agreement_opens_the_gate if {
	outside_access.opening("US-WA") == {"fbi-wa-dol-mou"} with input as fbi_felony_identify
	outside_access.closed(washington) == set() with input as fbi_felony_identify
	outside_access.admitted(washington) with input as fbi_felony_identify
}

test_an_unknown_agency_is_outside_everywhere if {
	doc := f.with_subject(fbi_felony_identify, {"agency": "acme-private-eyes"})
	outside_access.gates(washington) == {"US-WA"} with input as doc
	not outside_access.admitted(washington) with input as doc
}

test_open_jurisdictions_have_no_gate if {
	outside_access.gates({"US-OR-RIVERTON", "US-OR", "US"}) == set() with input as f.criminal_identify
	outside_access.admitted({"US-OR-RIVERTON", "US-OR", "US"}) with input as f.criminal_identify
}
