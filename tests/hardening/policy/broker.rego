# A minimal policy for the hardening tests: the broker's robustness must not depend on the
# shipped library, which the compliance teams change at their own pace.
#
# Only the agency "test-agency" may act, only for criminal_investigation; an allow carries
# every obligation a search needs plus the rate limits in data.rate_limits.
package broker

default decision := {
	"allow": false,
	"reasons": [{"code": "not_permitted", "message": "only test-agency, for criminal_investigation"}],
	"obligations": {},
}

decision := {
	"allow": true,
	"reasons": [{"code": "test_agreement", "message": "the hardening tests' agreement"}],
	"obligations": {
		"max_results": 10,
		"min_score": 0.0,
		"exclude_origins": [],
		"required_consent_scope": "criminal_investigation",
		"human_review_required": false,
		"rate_limit": data.rate_limits,
	},
} if {
	input.subject.agency == "test-agency"
	input.request.purpose == "criminal_investigation"
}

release := {"released": [c.record_id | some c in input.candidates], "withheld": []}
