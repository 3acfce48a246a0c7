-- Audit trail: the person an entry is about (user and session actions, sign-ins), so an admin
-- can filter by person and a Co-Admin can be kept from entries about the Admin; indexes for the
-- filters of GET /api/v2/audit.
ALTER TABLE audit_log ADD COLUMN subject_id BIGINT;
UPDATE audit_log SET subject_id = CAST(target AS BIGINT)
 WHERE (action LIKE 'user.%' OR action LIKE 'session.%')
   AND target ~ '^[0-9]{1,18}$';
UPDATE audit_log SET action = 'login.success' WHERE action = 'session.create';
CREATE INDEX audit_log_actor ON audit_log(actor_id, id);
CREATE INDEX audit_log_subject ON audit_log(subject_id, id);
CREATE INDEX audit_log_action ON audit_log(action, id);
