-- berth metadata, schema 7: failed-login throttling shared by every node
-- (berth_registry::auth::throttle). One row per counter: `key` is
-- "pair\t<user>\t<address>" or "ip\t<address>". Times are Unix ms.
CREATE TABLE login_throttle (
    key           TEXT PRIMARY KEY,
    window_start  INTEGER NOT NULL,
    failures      INTEGER NOT NULL,
    lockouts      INTEGER NOT NULL,
    locked_until  INTEGER
);
CREATE INDEX login_throttle_by_window ON login_throttle(window_start);
