# Shared test fixtures: the scenario the demo and the integration tests use.
# Only loaded when testing; it defines no tests itself.
package broker.fixtures_test

import data.broker.clock

# The moment every fixture is relative to. `broker policy test --now T` sets
# data.test_clock.now to T, so the whole suite runs as of T: a test that fails then depends
# on something that will have changed by T (an agreement that expires, a record past its
# retention limit).
default now := "2026-06-01T12:00:00Z"

now := data.test_clock.now

now_ns := time.parse_rfc3339_ns(now)

# days_ago(n), days_from_now(n): instants n days of 86,400 seconds before or after now.
days_ago(n) := clock.rfc3339(now_ns - (n * clock.day_ns))

days_from_now(n) := clock.rfc3339(now_ns + (n * clock.day_ns))

context := {"now": now, "broker_id": "broker-test", "policy_revision": "test"}

all_origins := ["US", "US-OR", "US-OR-RIVERTON", "US-WA", "CL"]

partitions := [{"origin_jurisdiction": origin, "modality": modality} |
	some origin in all_origins
	some modality in ["face", "fingerprint"]
]

# --- Subjects (as the broker builds them from verified tokens) ---

fbi_investigator := {
	"agency": "us-fbi", "officer": "fbi-agent-7", "roles": ["investigator"],
	"country": "US", "jurisdiction": "US",
}

hsi_officer := {
	"agency": "us-hsi", "officer": "hsi-officer-3", "roles": ["immigration_officer"],
	"country": "US", "jurisdiction": "US",
}

pdi_investigator := {
	"agency": "cl-pdi", "officer": "pdi-detective-2", "roles": ["investigator"],
	"country": "CL", "jurisdiction": "CL",
}

dol_records_officer := {
	"agency": "wa-dol", "officer": "dol-records-4", "roles": ["records_officer"],
	"country": "US", "jurisdiction": "US-WA",
}

fusion_records_officer := {
	"agency": "or-fusion", "officer": "fusion-records-1", "roles": ["records_officer"],
	"country": "US", "jurisdiction": "US-OR",
}

# --- Requests ---

identify(subject, purpose, basis, modality) := {
	"subject": subject,
	"request": {
		"operation": "identify",
		"purpose": purpose,
		"legal_basis": {"type": basis, "reference": "REF-2026-001"},
		"case_id": "case-42",
		"modality": modality,
		"max_results": 10,
		"target_origins": [],
		"filters": {},
	},
	"resource": {"partitions": partitions},
	"context": context,
}

criminal_identify := identify(fbi_investigator, "criminal_investigation", "warrant", "face")

immigration_identify := identify(hsi_officer, "immigration_enforcement", "administrative_warrant", "face")

chile_fingerprint_identify := identify(pdi_investigator, "criminal_investigation", "treaty_request", "fingerprint")

chile_face_identify := identify(pdi_investigator, "criminal_investigation", "treaty_request", "face")

verify(subject, purpose, basis, modality) := {
	"subject": subject,
	"request": {
		"operation": "verify",
		"purpose": purpose,
		"legal_basis": {"type": basis, "reference": "REF-2026-002"},
		"case_id": "case-43",
		"modality": modality,
		"target_origins": [],
		"filters": {},
	},
	"resource": {"record_id": "rec-any"},
	"context": context,
}

enroll(subject, provenance) := {
	"subject": subject,
	"request": {
		"operation": "enroll",
		"purpose": "enrolment",
		"legal_basis": {"type": "statute", "reference": "ORS 181A.010"},
		"case_id": "enrol-1",
		"modality": "face",
		"target_origins": [],
		"filters": {},
	},
	"resource": {"record_id": "rec-new", "provenance": provenance},
	"context": context,
}

expunge(subject) := {
	"subject": subject,
	"request": {
		"operation": "expunge",
		"purpose": "expungement",
		"legal_basis": {"type": "court_order", "reference": "CO-2026-17"},
		"case_id": "expunge-1",
		"modality": "face",
		"target_origins": [],
		"filters": {},
	},
	"resource": {"record_id": "rec-old"},
	"context": context,
}

# with_request(doc, changes): doc with its request fields replaced by `changes`.
with_request(doc, changes) := object.union(doc, {"request": changes})

with_subject(doc, changes) := object.union(doc, {"subject": changes})

with_now(doc, moment) := object.union(doc, {"context": {"now": moment}})

# with_offence(doc, code): doc naming the offence under investigation.
with_offence(doc, code) := with_request(doc, {"offence": code})

# --- Records (provenance as the matcher stores it) ---

all_scopes := ["criminal_investigation", "immigration_enforcement", "missing_person"]

riverton_record := {
	"origin_jurisdiction": "US-OR-RIVERTON",
	"source_agency": "riverton-pd",
	"lineage": ["riverton-pd"],
	"consent_scopes": all_scopes,
	"captured_at": days_ago(870),
	"retain_until": days_from_now(2780),
}

# The intermediary case: the state fusion centre copied a Riverton record...
fusion_copy_of_riverton := object.union(riverton_record, {
	"source_agency": "or-fusion",
	"lineage": ["riverton-pd", "or-fusion"],
})

# ...and relabelled the copy as its own, Oregon, record.
relabelled_fusion_copy := object.union(fusion_copy_of_riverton, {"origin_jurisdiction": "US-OR"})

oregon_record := {
	"origin_jurisdiction": "US-OR",
	"source_agency": "or-fusion",
	"lineage": ["or-fusion"],
	"consent_scopes": all_scopes,
	"captured_at": days_ago(1188),
	"retain_until": days_from_now(2464),
}

federal_record := {
	"origin_jurisdiction": "US",
	"source_agency": "us-fbi",
	"lineage": ["us-fbi"],
	"consent_scopes": all_scopes,
	"captured_at": days_ago(1488),
	"retain_until": days_from_now(2164),
}

# A Washington driver-licence photo: outside agencies reach it only under an agreement.
licence_photo := {
	"origin_jurisdiction": "US-WA",
	"source_agency": "wa-dol",
	"lineage": ["wa-dol"],
	"consent_scopes": all_scopes,
	"captured_at": days_ago(400),
	"retain_until": days_from_now(3000),
}

chile_record := {
	"origin_jurisdiction": "CL",
	"source_agency": "cl-pdi",
	"lineage": ["cl-pdi"],
	"consent_scopes": all_scopes,
	"captured_at": days_ago(1790),
	"retain_until": days_from_now(1862),
}

candidate(id, score, provenance) := {"record_id": id, "score": score, "provenance": provenance}

# release_input(doc, candidates): the release input for a decision input, carrying the
# obligations of the real decision on that input.
release_input(doc, candidates) := {
	"subject": doc.subject,
	"request": doc.request,
	"context": doc.context,
	"obligations": obligations,
	"candidates": candidates,
} if {
	decision := data.broker.decision with input as doc
	decision.allow == true
	obligations := decision.obligations
}

# withheld_codes(release, id): the reasons `id` was withheld, or undefined if it was not.
withheld_codes(release, id) := codes if {
	some entry in release.withheld
	entry.record_id == id
	codes := entry.reasons
}

# codes(decision): the set of reason codes of a decision.
codes(decision) := {reason.code | some reason in decision.reasons}
