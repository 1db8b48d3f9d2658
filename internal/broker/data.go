package broker

// dataState is owned by the data path: producer ids, fetch sessions.
type dataState struct{}
