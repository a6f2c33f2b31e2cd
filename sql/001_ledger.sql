-- 001_ledger.sql — the closeloop ledger.  This schema is a public contract:
-- dashboards read the views in later migrations; columns are documented in
-- docs/schema.md.  Applied by `closeloop migrate` inside one transaction.

CREATE TABLE platform (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    lead_handle text,                       -- person.handle of the platform lead
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE team (
    id          bigserial PRIMARY KEY,
    name        text NOT NULL UNIQUE,
    platform_id bigint REFERENCES platform(id),
    connector   text,                       -- configured connector name, e.g. 'github-main'
    target      text,                       -- tracker target, e.g. 'acme/payments' (GitHub owner/repo)
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CHECK ((connector IS NULL) = (target IS NULL))
);

CREATE TABLE person (
    id                bigserial PRIMARY KEY,
    handle            text NOT NULL UNIQUE,  -- the ledger's name for a person
    display_name      text,
    email             text,
    github_login      text,                  -- GitHub login (case-insensitive on GitHub)
    jira_account_id   text,                  -- Jira Cloud accountId
    jira_username     text,                  -- Jira Data Center user name
    servicenow_sys_id text,                  -- ServiceNow sys_user sys_id
    active            boolean NOT NULL DEFAULT true,
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX person_github_login_key ON person (lower(github_login)) WHERE github_login IS NOT NULL;

CREATE TABLE postmortem (
    id             bigserial PRIMARY KEY,
    reference      text NOT NULL UNIQUE,     -- e.g. 'PM2021-004'
    title          text NOT NULL,
    incident_start timestamptz,
    incident_end   timestamptz,
    severity       text,
    platform_id    bigint REFERENCES platform(id),
    team_id        bigint REFERENCES team(id),
    document_url   text,
    source_path    text,                     -- file it was imported from
    published_date date,
    created_at     timestamptz NOT NULL DEFAULT now(),
    updated_at     timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE action_item (
    id            bigserial PRIMARY KEY,
    postmortem_id bigint NOT NULL REFERENCES postmortem(id),
    import_key    text,                      -- stable key within the postmortem (importer)
    position      integer,                   -- order in the document
    title         text NOT NULL CHECK (title <> ''),
    description   text,
    type          text NOT NULL DEFAULT 'other'
                  CHECK (type IN ('prevent','detect','mitigate','process','other')),
    priority      text CHECK (priority IN ('P0','P1','P2','P3')),
    owner         text,                      -- person.handle, or the owner as written
    team_id       bigint REFERENCES team(id),
    due_date      date,
    state         text NOT NULL DEFAULT 'open'
                  CHECK (state IN ('open','in_progress','done','wont_do')),
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now(),
    closed_at     timestamptz,               -- set when state becomes done / wont_do
    version       bigint NOT NULL DEFAULT 1, -- +1 on every change of a synced field
    UNIQUE (postmortem_id, import_key)
);
CREATE INDEX action_item_team_idx ON action_item (team_id);
CREATE INDEX action_item_state_idx ON action_item (state);

-- One row per (item, tracker ticket).  kind 'managed': closeloop keeps the
-- ticket in agreement; kind 'reference': a ticket named in the postmortem in
-- a repository no connector covers — shown, never synced, never created.
CREATE TABLE external_link (
    id                bigserial PRIMARY KEY,
    action_item_id    bigint NOT NULL REFERENCES action_item(id),
    connector         text NOT NULL,         -- configured connector name ('github' for bare references)
    target            text NOT NULL,         -- e.g. 'acme/payments'
    kind              text NOT NULL DEFAULT 'managed' CHECK (kind IN ('managed','reference')),
    state             text NOT NULL
                      CHECK (state IN ('creating','linked','broken','reference')),
    create_token      text UNIQUE,           -- written into the ticket before it exists
    remote_id         text,                  -- stable id (GitHub issue id)
    remote_key        text,                  -- human key ('acme/payments#12')
    url               text,
    base              jsonb,                 -- canonical fields both sides last agreed on
    remote_updated_at timestamptz,
    etag              text,
    remote_extra      jsonb,                 -- connector-private (labels closeloop does not manage)
    synced_version    bigint NOT NULL DEFAULT 0, -- action_item.version at the last agreement
    broken_reason     text,                  -- 'gone' (404/410), 'moved' (301)
    last_error        text,
    error_count       integer NOT NULL DEFAULT 0,
    intent_at         timestamptz,           -- when the create intent was recorded
    created_at        timestamptz NOT NULL DEFAULT now(),
    updated_at        timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX external_link_remote_key ON external_link (connector, remote_id) WHERE remote_id IS NOT NULL;
CREATE UNIQUE INDEX external_link_ref_key ON external_link (action_item_id, target, remote_key) WHERE kind = 'reference';
-- at most one managed link per item and connector: the no-duplicates rule
CREATE UNIQUE INDEX external_link_managed_key ON external_link (action_item_id, connector) WHERE kind = 'managed';
CREATE INDEX external_link_state_idx ON external_link (connector, target, state);

-- Append-only history of every field change, written by triggers.
CREATE TABLE item_event (
    id             bigserial PRIMARY KEY,
    action_item_id bigint NOT NULL REFERENCES action_item(id),
    at             timestamptz NOT NULL DEFAULT now(),
    field          text NOT NULL,            -- column name, or 'created' / 'conflict' / 'link'
    old_value      text,
    new_value      text,
    source         text NOT NULL,            -- 'sql', 'import', 'reconcile:<connector>', ...
    actor          text,                     -- database role, or the remote user
    detail         jsonb                     -- e.g. both sides of a conflict and the policy
);
CREATE INDEX item_event_item_idx ON item_event (action_item_id, at);
CREATE INDEX item_event_at_idx ON item_event (at);

CREATE RULE item_event_no_update AS ON UPDATE TO item_event DO INSTEAD NOTHING;
CREATE RULE item_event_no_delete AS ON DELETE TO item_event DO INSTEAD NOTHING;

CREATE TABLE sync_cursor (
    connector   text NOT NULL,
    target      text NOT NULL,
    cursor_at   timestamptz,                 -- high-water mark of remote updated-at
    etag        text,                        -- of the last first-page listing
    last_run_at timestamptz,
    last_error  text,
    PRIMARY KEY (connector, target)
);

-- ---- triggers ----

-- Who is writing: reconcile and import set these per transaction with
-- set_config('closeloop.source', ..., true); anything else is 'sql'.
CREATE FUNCTION closeloop_source() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('closeloop.source', true), ''), 'sql')
$$;
CREATE FUNCTION closeloop_actor() RETURNS text LANGUAGE sql STABLE AS $$
    SELECT coalesce(nullif(current_setting('closeloop.actor', true), ''), session_user::text)
$$;

CREATE FUNCTION action_item_before_update() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF (NEW.title, NEW.description, NEW.state, NEW.priority, NEW.type, NEW.owner, NEW.due_date, NEW.team_id)
       IS DISTINCT FROM
       (OLD.title, OLD.description, OLD.state, OLD.priority, OLD.type, OLD.owner, OLD.due_date, OLD.team_id) THEN
        NEW.version := OLD.version + 1;
        NEW.updated_at := now();
    END IF;
    IF NEW.state IN ('done','wont_do') AND OLD.state NOT IN ('done','wont_do') THEN
        NEW.closed_at := now();
    ELSIF NEW.state NOT IN ('done','wont_do') THEN
        NEW.closed_at := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER action_item_before_update BEFORE UPDATE ON action_item
    FOR EACH ROW EXECUTE FUNCTION action_item_before_update();

CREATE FUNCTION action_item_before_insert() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.state IN ('done','wont_do') AND NEW.closed_at IS NULL THEN
        NEW.closed_at := now();
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER action_item_before_insert BEFORE INSERT ON action_item
    FOR EACH ROW EXECUTE FUNCTION action_item_before_insert();

CREATE FUNCTION action_item_history() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    src text := closeloop_source();
    who text := closeloop_actor();
BEGIN
    IF TG_OP = 'INSERT' THEN
        INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor, detail)
        VALUES (NEW.id, 'created', NULL, NEW.state, src, who,
                jsonb_build_object('title', NEW.title, 'type', NEW.type, 'priority', NEW.priority,
                                   'owner', NEW.owner, 'due_date', NEW.due_date, 'team_id', NEW.team_id));
    ELSE
        IF NEW.title IS DISTINCT FROM OLD.title THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'title', OLD.title, NEW.title, src, who);
        END IF;
        IF NEW.description IS DISTINCT FROM OLD.description THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'description', OLD.description, NEW.description, src, who);
        END IF;
        IF NEW.state IS DISTINCT FROM OLD.state THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'state', OLD.state, NEW.state, src, who);
        END IF;
        IF NEW.priority IS DISTINCT FROM OLD.priority THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'priority', OLD.priority, NEW.priority, src, who);
        END IF;
        IF NEW.type IS DISTINCT FROM OLD.type THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'type', OLD.type, NEW.type, src, who);
        END IF;
        IF NEW.owner IS DISTINCT FROM OLD.owner THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'owner', OLD.owner, NEW.owner, src, who);
        END IF;
        IF NEW.due_date IS DISTINCT FROM OLD.due_date THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'due_date', OLD.due_date::text, NEW.due_date::text, src, who);
        END IF;
        IF NEW.team_id IS DISTINCT FROM OLD.team_id THEN
            INSERT INTO item_event (action_item_id, field, old_value, new_value, source, actor)
            VALUES (NEW.id, 'team_id', OLD.team_id::text, NEW.team_id::text, src, who);
        END IF;
    END IF;
    -- Wake the daemon for edits it did not make itself (one notification
    -- per transaction: identical payloads are folded by PostgreSQL).
    IF src NOT LIKE 'reconcile%' AND (TG_OP = 'INSERT' OR NEW.version <> OLD.version) THEN
        PERFORM pg_notify('closeloop_ledger', '');
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER action_item_history AFTER INSERT OR UPDATE ON action_item
    FOR EACH ROW EXECUTE FUNCTION action_item_history();

-- team routing changes also need a push pass (new target -> create tickets)
CREATE FUNCTION team_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('closeloop_ledger', '');
    RETURN NULL;
END $$;
CREATE TRIGGER team_notify AFTER INSERT OR UPDATE OF connector, target ON team
    FOR EACH ROW EXECUTE FUNCTION team_notify();
