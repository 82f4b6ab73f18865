-- berth metadata, schema 7 (PostgreSQL twin of migrations/sqlite/0007): failed-login throttling shared by every node
-- (berth_registry::auth::throttle). One row per counter: `key` is
-- "pair\t<user>\t<address>" or "ip\t<address>". Times are Unix ms.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    window_start  BIGINT NOT NULL,
    failures      BIGINT NOT NULL,
    lockouts      BIGINT NOT NULL,
    locked_until  BIGINT
);
CREATE INDEX login_throttle_by_window ON login_throttle(window_start);
