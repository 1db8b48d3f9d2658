// Package partition owns one replica's state above the log: its role, high
// watermark, leader epoch, the idempotent-producer state, and the
// "purgatory" where acks=all produces and long-poll fetches wait until the
// high watermark or log end moves. Waiters are woken by those changes,
// never by polling.
package partition
