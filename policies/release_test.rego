package broker.release_test

import data.broker
import data.broker.fixtures_test as f

release(doc) := result if {
	result := broker.release with input as doc
}

explained(doc) := result if {
	result := broker.release_explained with input as doc
}

# A realistic identification: the matcher's candidates for an immigration search.
immigration_candidates := [
	f.candidate("rec-oregon", 0.93, f.oregon_record),
	f.candidate("rec-riverton", 0.91, f.riverton_record),
	f.candidate("rec-fusion-copy", 0.90, f.fusion_copy_of_riverton),
	f.candidate("rec-relabelled-copy", 0.89, f.relabelled_fusion_copy),
	f.candidate("rec-federal", 0.71, f.federal_record),
	f.candidate("rec-weak", 0.42, f.federal_record),
]

immigration_release := release(f.release_input(f.immigration_identify, immigration_candidates))

test_realistic_release if {
	immigration_release.released == ["rec-oregon", "rec-federal"]
	[w.record_id | some w in immigration_release.withheld] == ["rec-riverton", "rec-fusion-copy", "rec-relabelled-copy", "rec-weak"]
	f.withheld_codes(immigration_release, "rec-weak") == ["below_min_score"]
}

test_every_candidate_appears_exactly_once if {
	ids := [c.record_id | some c in immigration_candidates]
	answered := array.concat(immigration_release.released, [w.record_id | some w in immigration_release.withheld])
	sort(answered) == sort(ids)
}

test_release_has_exactly_the_documented_shape if {
	object.keys(immigration_release) == {"released", "withheld"}
	every w in immigration_release.withheld {
		object.keys(w) == {"record_id", "reasons"}
	}
}

test_riverton_record_withheld_from_immigration_enforcement if {
	f.withheld_codes(immigration_release, "rec-riverton") == ["jurisdiction_forbids_purpose", "origin_excluded"]
}

# The intermediary case: the state fusion centre's copy keeps Riverton's rule.
test_fusion_centre_copy_withheld_from_immigration_enforcement if {
	f.withheld_codes(immigration_release, "rec-fusion-copy") == ["jurisdiction_forbids_purpose", "origin_excluded"]
}

# ...even when the copy was relabelled as an Oregon record (which is not excluded).
test_relabelled_copy_withheld_from_immigration_enforcement if {
	f.withheld_codes(immigration_release, "rec-relabelled-copy") == ["jurisdiction_forbids_purpose"]
	doc := f.release_input(f.immigration_identify, immigration_candidates)
	explained(doc)["rec-relabelled-copy"] == [{"code": "jurisdiction_forbids_purpose", "message": "US-OR-RIVERTON forbids immigration_enforcement for this record"}]
}

test_copies_released_for_a_criminal_investigation if {
	r := release(f.release_input(f.criminal_identify, [
		f.candidate("rec-fusion-copy", 0.9, f.fusion_copy_of_riverton),
		f.candidate("rec-relabelled-copy", 0.9, f.relabelled_fusion_copy),
	]))
	r.released == ["rec-fusion-copy", "rec-relabelled-copy"]
	r.withheld == []
}

test_expired_retention_withheld if {
	# A Riverton face captured six years ago: past Riverton's five-year limit.
	old := object.union(f.riverton_record, {"captured_at": f.days_ago(2200)})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-old", 0.9, old)])
	f.withheld_codes(release(doc), "rec-old") == ["retention_expired"]
	explained(doc)["rec-old"] == [{"code": "retention_expired", "message": sprintf("captured %v; face records are kept 1825 days (limit set by US-OR-RIVERTON)", [f.days_ago(2200)])}]
}

test_relabelled_copy_keeps_the_origins_retention_limit if {
	old := object.union(f.relabelled_fusion_copy, {"captured_at": f.days_ago(2200)})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-old", 0.9, old)])
	f.withheld_codes(release(doc), "rec-old") == ["retention_expired"]
}

test_same_age_record_of_oregon_released if {
	old := object.union(f.oregon_record, {"captured_at": f.days_ago(2200)})
	release(f.release_input(f.criminal_identify, [f.candidate("rec-old", 0.9, old)])).released == ["rec-old"]
}

test_retain_until_passed_withheld if {
	stale := object.union(f.oregon_record, {"retain_until": f.days_ago(1)})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-stale", 0.9, stale)])
	f.withheld_codes(release(doc), "rec-stale") == ["retention_expired"]
	explained(doc)["rec-stale"] == [{"code": "retention_expired", "message": sprintf("retain_until %v has passed", [f.days_ago(1)])}]
}

test_withdrawn_consent_withheld if {
	withdrawn := object.union(f.oregon_record, {"consent_withdrawn_at": f.days_ago(137)})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-withdrawn", 0.9, withdrawn)])
	f.withheld_codes(release(doc), "rec-withdrawn") == ["consent_withdrawn"]
}

test_consent_withdrawn_only_later_still_released if {
	later := object.union(f.oregon_record, {"consent_withdrawn_at": f.days_from_now(228)})
	release(f.release_input(f.criminal_identify, [f.candidate("rec", 0.9, later)])).released == ["rec"]
}

test_missing_consent_scope_withheld if {
	narrow := object.union(f.oregon_record, {"consent_scopes": ["missing_person"]})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-narrow", 0.9, narrow)])
	f.withheld_codes(release(doc), "rec-narrow") == ["consent_scope_missing"]
}

test_unknown_lineage_agency_withheld if {
	laundered := object.union(f.oregon_record, {"lineage": ["shadow-broker", "or-fusion"]})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-laundered", 0.9, laundered)])
	f.withheld_codes(release(doc), "rec-laundered") == ["unknown_lineage_agency"]
}

test_unknown_origin_withheld if {
	stray := object.union(f.oregon_record, {"origin_jurisdiction": "ATLANTIS"})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-stray", 0.9, stray)])
	f.withheld_codes(release(doc), "rec-stray") == ["unknown_origin_jurisdiction"]
}

test_excluded_origin_withheld if {
	doc := f.release_input(f.with_request(f.criminal_identify, {"target_origins": ["US"]}), [
		f.candidate("rec-oregon", 0.9, f.oregon_record),
		f.candidate("rec-federal", 0.9, f.federal_record),
	])
	r := release(doc)
	r.released == ["rec-federal"]
	f.withheld_codes(r, "rec-oregon") == ["origin_excluded"]
}

test_cross_border_record_without_agreement_withheld if {
	# A US face search meeting a Chilean record (say, from a misrouted partition).
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-chile", 0.9, f.chile_record)])
	f.withheld_codes(release(doc), "rec-chile") == ["no_agreement", "origin_excluded"]
}

test_cross_border_record_released_under_agreement if {
	doc := f.release_input(f.chile_fingerprint_identify, [
		f.candidate("rec-federal", 0.8, f.federal_record),
		f.candidate("rec-chile", 0.7, f.chile_record),
		f.candidate("rec-low", 0.49, f.federal_record),
	])
	r := release(doc)
	r.released == ["rec-federal", "rec-chile"]
	f.withheld_codes(r, "rec-low") == ["below_min_score"]
}

# A Chilean record copied by the FBI and relabelled "US" is still Chilean: a US face
# search (no agreement covers face) does not get it.
test_record_laundered_across_the_border_withheld if {
	copied := object.union(f.chile_record, {"origin_jurisdiction": "US", "source_agency": "us-fbi", "lineage": ["cl-pdi", "us-fbi"]})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-copied", 0.9, copied)])
	f.withheld_codes(release(doc), "rec-copied") == ["no_agreement"]
}

# --- Jurisdictions that admit outside agencies only by agreement ---

test_licence_photo_withheld_from_an_agency_without_agreement if {
	# The photo reached a search it should not have (say, a misrouted partition).
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-licence", 0.9, f.licence_photo)])
	f.withheld_codes(release(doc), "rec-licence") == ["no_agency_agreement", "origin_excluded"]
	some reason in explained(doc)["rec-licence"]
	reason == {"code": "no_agency_agreement", "message": "US-WA admits agencies from outside only under an agreement in force between us-fbi and an agency based there covering criminal_investigation, face, identify"}
}

test_licence_photo_released_to_the_fbi_for_a_felony if {
	doc := f.release_input(f.with_offence(f.criminal_identify, "armed_robbery"), [f.candidate("rec-licence", 0.9, f.licence_photo)])
	release(doc).released == ["rec-licence"]
}

# Restrictions travel with the record: a licence photo copied by the fusion centre and
# relabelled as an Oregon record still needs the agreement.
test_relabelled_licence_photo_still_needs_the_agreement if {
	copied := object.union(f.licence_photo, {"origin_jurisdiction": "US-OR", "source_agency": "or-fusion", "lineage": ["wa-dol", "or-fusion"]})
	doc := f.release_input(f.criminal_identify, [f.candidate("rec-copy", 0.9, copied)])
	f.withheld_codes(release(doc), "rec-copy") == ["no_agency_agreement"]
	felony := f.release_input(f.with_offence(f.criminal_identify, "armed_robbery"), [f.candidate("rec-copy", 0.9, copied)])
	release(felony).released == ["rec-copy"]
}

test_below_min_score_withheld if {
	doc := f.release_input(f.criminal_identify, [f.candidate("rec", 0.44, f.oregon_record)])
	f.withheld_codes(release(doc), "rec") == ["below_min_score"]
	release(f.release_input(f.criminal_identify, [f.candidate("rec", 0.45, f.oregon_record)])).released == ["rec"]
}

test_several_failures_give_several_reasons if {
	bad := object.union(f.riverton_record, {"consent_scopes": [], "retain_until": f.days_ago(516)})
	doc := f.release_input(f.immigration_identify, [f.candidate("rec-bad", 0.1, bad)])
	f.withheld_codes(release(doc), "rec-bad") == [
		"below_min_score", "consent_scope_missing", "jurisdiction_forbids_purpose",
		"origin_excluded", "retention_expired",
	]
}

# --- Fail closed ---

test_missing_obligations_release_nothing if {
	doc := json.remove(f.release_input(f.criminal_identify, [f.candidate("rec", 0.9, f.oregon_record)]), ["obligations"])
	r := release(doc)
	r.released == []
	count(f.withheld_codes(r, "rec")) > 0
}

test_missing_exclude_origins_releases_nothing if {
	doc := json.remove(f.release_input(f.criminal_identify, [f.candidate("rec", 0.9, f.oregon_record)]), ["obligations/exclude_origins"])
	release(doc).released == []
}

test_record_without_provenance_withheld_with_a_reason if {
	doc := f.release_input(f.criminal_identify, [{"record_id": "rec-bare", "score": 0.9, "provenance": {}}])
	r := release(doc)
	r.released == []
	count(f.withheld_codes(r, "rec-bare")) > 0
}

test_modality_without_retention_limit_withheld if {
	doc := f.release_input(f.criminal_identify, [f.candidate("rec", 0.9, f.oregon_record)])
	r := release(object.union(doc, {"request": {"modality": "iris"}}))
	f.withheld_codes(r, "rec") == ["retention_limit_unknown"]
}

# When no rule can say why (here, an agency's jurisdiction missing from the data), the
# record is still withheld, with the generic reason.
test_unexplained_failure_still_withheld if {
	doc := f.release_input(f.criminal_identify, [f.candidate("rec", 0.9, f.oregon_record)])
	r := release(doc) with data.agencies["or-fusion"].jurisdiction as "ATLANTIS"
	r.released == []
	f.withheld_codes(r, "rec") == ["not_releasable"]
}

test_no_candidates_no_release if {
	release(f.release_input(f.criminal_identify, [])) == {"released": [], "withheld": []}
}
