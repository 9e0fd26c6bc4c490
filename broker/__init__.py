"""biometric-broker: a policy-as-code access broker in front of a biometric matcher."""
