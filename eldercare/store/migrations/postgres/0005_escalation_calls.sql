-- The escalation's writes between a new alert and its first SMS, each in one round
-- trip (PostgresEscalation.schedule_ladder and begin_send): the same steps as the
-- SQLite store's methods of those names, on the server. They took six round trips
-- each (BEGIN, four statements, COMMIT), each waiting for a turn of a busy event loop.

-- A ladder for the alert, or a worse one in place of a milder one: true if steps
-- were written. Steps come as arrays, one element per step.
CREATE FUNCTION eldercare_schedule_ladder(
    p_alert_id bigint,
    p_severity text,
    p_at timestamptz,
    p_names text[],
    p_rounds integer[],
    p_due timestamptz[],
    p_actions text[],
    p_targets text[],
    p_unless text[],
    p_messages text[],
    p_repeat_every_s double precision[]
) RETURNS boolean
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_severity text;
    ranks CONSTANT text[] := ARRAY['critical', 'high', 'warning', 'info'];
BEGIN
    PERFORM pg_advisory_xact_lock(hashtext('escalation-ladder'), (p_alert_id % 2147483647)::int);
    SELECT l.severity INTO v_severity FROM escalation_ladders l
    WHERE l.alert_id = p_alert_id FOR UPDATE;
    IF FOUND THEN
        IF array_position(ranks, v_severity) <= array_position(ranks, p_severity) THEN
            RETURN false;
        END IF;
        UPDATE escalation_ladders l SET severity = p_severity, scheduled_at = p_at
        WHERE l.alert_id = p_alert_id;
        UPDATE escalation_steps s SET state = 'cancelled', finished_at = p_at
        WHERE s.alert_id = p_alert_id AND s.state = 'pending';
    ELSE
        INSERT INTO escalation_ladders (alert_id, severity, scheduled_at)
        VALUES (p_alert_id, p_severity, p_at);
    END IF;
    INSERT INTO escalation_steps (alert_id, name, round, due_at, action, target,
        unless_status, message, repeat_every_s)
    SELECT p_alert_id, u.name, u.round, u.due_at, u.action, u.target, u.unless_status,
        u.message, u.repeat_every_s
    FROM unnest(p_names, p_rounds, p_due, p_actions, p_targets, p_unless, p_messages,
        p_repeat_every_s)
        AS u(name, round, due_at, action, target, unless_status, message, repeat_every_s)
    ON CONFLICT (alert_id, name, round) DO NOTHING;
    RETURN true;
END
$$;

-- Move a planned send to 'sending' (or 'suppressed' over the hourly SMS quota of
-- its phone, decided under an advisory lock on that phone): 'send', 'summary' (the
-- first message over the quota, a summary instead), 'suppressed', or 'skip' (not
-- planned: another caller has it).
CREATE FUNCTION eldercare_begin_send(
    p_key text,
    p_at timestamptz,
    p_quota integer,
    p_since timestamptz,
    p_counted text[]
) RETURNS text
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    v_channel text;
    v_phone text;
    v_state text;
    v_decision text := 'send';
    v_mark text := 'normal';
    v_normal bigint;
    v_summary bigint;
BEGIN
    SELECT s.channel, s.to_phone, s.state INTO v_channel, v_phone, v_state
    FROM escalation_sends s WHERE s.key = p_key;
    IF NOT FOUND OR v_state <> 'planned' THEN
        RETURN 'skip';
    END IF;
    IF v_channel = 'sms' AND p_quota IS NOT NULL THEN
        PERFORM pg_advisory_xact_lock(hashtext('sms-quota:' || v_phone));
        SELECT count(*) FILTER (WHERE s.quota = 'normal'),
               count(*) FILTER (WHERE s.quota = 'summary')
        INTO v_normal, v_summary
        FROM escalation_sends s
        WHERE s.to_phone = v_phone AND s.channel = 'sms' AND s.started_at > p_since
          AND s.state = ANY(p_counted);
        IF v_normal >= p_quota THEN
            v_decision := CASE WHEN v_summary = 0 THEN 'summary' ELSE 'suppressed' END;
            v_mark := v_decision;
        END IF;
    END IF;
    UPDATE escalation_sends s
    SET state = CASE WHEN v_decision = 'suppressed' THEN 'suppressed' ELSE 'sending' END,
        quota = v_mark, started_at = p_at, updated_at = p_at
    WHERE s.key = p_key AND s.state = 'planned';
    IF NOT FOUND THEN
        RETURN 'skip';
    END IF;
    RETURN v_decision;
END
$$;
