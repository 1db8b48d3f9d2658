package broker

// controlState is owned by the control plane: topics, configs, metadata.
type controlState struct{}
