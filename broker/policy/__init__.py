"""Policy: the Rego bundle, the engines that evaluate it, and strict parsing of their answers."""
