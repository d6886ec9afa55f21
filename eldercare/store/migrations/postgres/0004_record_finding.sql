-- A detector's finding becomes an alert in one round trip (PostgresStore.record_finding):
-- the same steps as the SQLite store's record_finding, on the server. It was six
-- round trips (BEGIN, four statements, COMMIT), each waiting for a turn of a busy
-- event loop between a fall and the care centre's screen.
--
-- Returns no row when the finding's source_key is already on a timeline (a
-- redelivered reading), else the alert as changed and 'raised' or 'repeated'.
-- Raises SQLSTATE EC001 when the same source_key was recorded meanwhile by another
-- instance (the whole call is undone) and EC002 when another instance kept raising
-- the same alert first; the caller maps both.

CREATE FUNCTION eldercare_record_finding(
    p_home_id text,
    p_subject text,
    p_kind text,
    p_severity text,
    p_at timestamptz,
    p_deadline timestamptz,
    p_message text,
    p_device_id text,
    p_resident_id text,
    p_source_key text,
    p_raised_details jsonb,
    p_details jsonb,
    p_attempts integer
) RETURNS TABLE (
    event text,
    id bigint,
    home_id text,
    subject text,
    kind text,
    severity text,
    status text,
    raised_at timestamptz,
    last_seen_at timestamptz,
    response_deadline timestamptz,
    count integer,
    message text,
    device_id text,
    resident_id text,
    responder text,
    outcome text,
    updated_at timestamptz
)
LANGUAGE plpgsql AS $$
#variable_conflict use_column
DECLARE
    a alerts%ROWTYPE;
    v_event text;
    v_details jsonb;
    ranks CONSTANT text[] := ARRAY['critical', 'high', 'warning', 'info'];
BEGIN
    IF p_source_key IS NOT NULL
       AND EXISTS (SELECT 1 FROM alert_timeline t WHERE t.source_key = p_source_key) THEN
        RETURN;
    END IF;
    FOR attempt IN 1..p_attempts LOOP
        SELECT * INTO a FROM alerts x
        WHERE x.home_id = p_home_id AND x.subject = p_subject AND x.kind = p_kind
          AND x.status <> 'resolved'
        FOR UPDATE;
        IF FOUND THEN
            UPDATE alerts x SET
                severity = CASE
                    WHEN array_position(ranks, p_severity) < array_position(ranks, a.severity)
                    THEN p_severity ELSE a.severity END,
                count = a.count + 1,
                last_seen_at = GREATEST(a.last_seen_at, p_at),
                updated_at = p_at,
                device_id = COALESCE(a.device_id, p_device_id),
                resident_id = COALESCE(a.resident_id, p_resident_id)
            WHERE x.id = a.id
            RETURNING * INTO a;
            v_event := 'repeated';
            v_details := jsonb_build_object('count', a.count, 'severity', a.severity) || p_details;
            EXIT;
        END IF;
        INSERT INTO alerts AS x (home_id, subject, kind, severity, status, raised_at,
            last_seen_at, response_deadline, count, message, device_id, resident_id, updated_at)
        VALUES (p_home_id, p_subject, p_kind, p_severity, 'open', p_at, p_at, p_deadline, 1,
            p_message, p_device_id, p_resident_id, p_at)
        ON CONFLICT (home_id, subject, kind) WHERE status <> 'resolved' DO NOTHING
        RETURNING * INTO a;
        IF FOUND THEN
            v_event := 'raised';
            v_details := p_raised_details;
            EXIT;
        END IF;
        -- raised meanwhile by another instance: repeat it instead (next attempt)
    END LOOP;
    IF v_event IS NULL THEN
        RAISE EXCEPTION 'the alert kept being raised by another instance'
            USING ERRCODE = 'EC002';
    END IF;
    INSERT INTO alert_timeline AS t (alert_id, at, event, actor, details, source_key)
    VALUES (a.id, p_at, v_event, NULL, v_details, p_source_key)
    ON CONFLICT (source_key) DO NOTHING;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'finding % recorded meanwhile by another instance', p_source_key
            USING ERRCODE = 'EC001';
    END IF;
    RETURN QUERY SELECT v_event, a.id, a.home_id, a.subject, a.kind, a.severity, a.status,
        a.raised_at, a.last_seen_at, a.response_deadline, a.count, a.message, a.device_id,
        a.resident_id, a.responder, a.outcome, a.updated_at;
END
$$;
