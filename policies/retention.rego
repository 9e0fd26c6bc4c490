# Retention (data.retention): how long a record may be used after it was captured, in days,
# per modality. Limits are set per jurisdiction; the strictest limit of any jurisdiction a
# record is bound by applies, and the default applies only where none sets one.
package broker.retention

import data.broker.clock

# limit_days(js, modality): the strictest limit any jurisdiction in js sets for the modality,
# else the default. Undefined for a modality with no default (fail closed: nothing is
# within an undefined limit).
limit_days(js, modality) := min(limits) if {
	limits := {days | some j in js; days := data.retention.by_jurisdiction[j].days[modality]}
	count(limits) > 0
} else := data.retention.default_days[modality]

# limit_source(js, modality): who set the limit that applies, to explain a withheld record.
limit_source(js, modality) := sort({j |
	some j in js
	data.retention.by_jurisdiction[j].days[modality] == limit_days(js, modality)
}) if {
	some j in js
	data.retention.by_jurisdiction[j].days[modality]
} else := ["default"]

# limit_explained(js, modality): the limit that applies and the rule that sets it, in words.
limit_explained(js, modality) := sprintf("%v days from capture (%v)", [
	limit_days(js, modality),
	concat("; ", [source_text(source) | some source in limit_source(js, modality)]),
])

source_text("default") := data.retention.default_source

source_text(j) := sprintf("%v: %v", [j, data.retention.by_jurisdiction[j].source])

# within_limit(captured_at, js, modality): captured less than the limit ago.
within_limit(captured_at, js, modality) if {
	captured := time.parse_rfc3339_ns(captured_at)
	clock.now_ns < captured + (limit_days(js, modality) * clock.day_ns)
}

# retained(provenance): the record's own retain_until has not passed.
retained(provenance) if clock.now_ns < time.parse_rfc3339_ns(provenance.retain_until)
