//! Audit persistence. Records are appended inside the transaction of the change they record, so
//! they exist exactly when the change does. One chain, no forks: SQLite has one writer; on
//! PostgreSQL appends take the same advisory transaction lock as events (re-entrant within a
//! transaction, so taking both never deadlocks) and `seq` is the primary key, so a second
//! record claiming the same place fails instead of forking the chain.

use sqlx::Row;

use super::model::chain::{hash_of, seal, Verifier};
use super::model::*;
use crate::error::{AppError, AppResult};
use crate::storage::{column, json_column, Backend, Db, Tx};

/// The PostgreSQL advisory lock events and audit records share (see `events::store`).
pub const APPEND_LOCK: i64 = 7312024;

/// Off only in the benchmark that measures what the audit trail costs (`benches/audit.rs`):
/// no configuration reaches it.
static DISABLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

#[doc(hidden)]
pub fn disable_for_benchmark(off: bool) {
    DISABLED.store(off, std::sync::atomic::Ordering::SeqCst);
}

/// Appends `entries`, then the records `events` stand for ([`from_event`]), then the events
/// themselves, in the caller's transaction; returns the events' ids.
pub async fn append_with_events(
    tx: &mut Tx,
    backend: Backend,
    actor: &Actor,
    mut entries: Vec<Entry>,
    events: &[crate::events::model::NewEvent],
    now: i64,
) -> AppResult<Vec<i64>> {
    entries.extend(events.iter().filter_map(|e| from_event(actor, e)));
    link_plan_items(tx, &mut entries).await?;
    append(tx, backend, entries, now).await?;
    crate::events::store::append(tx, backend, events, now).await
}

/// Links records about a whole plan (not one step) that name no items to the plan's items and
/// their packs, so filtering by an item or a pack finds everything done to its plans.
async fn link_plan_items(tx: &mut Tx, entries: &mut [Entry]) -> AppResult<()> {
    let mut cache: std::collections::HashMap<i64, (Vec<i64>, Vec<i64>)> = Default::default();
    for e in entries.iter_mut() {
        let Some(plan) = e.links.plan else { continue };
        if e.links.step.is_some() || !e.links.items.is_empty() {
            continue;
        }
        if let std::collections::hash_map::Entry::Vacant(slot) = cache.entry(plan) {
            let rows = sqlx::query("select item_id, pack_id from plan_items where plan_id = $1").bind(plan).fetch_all(&mut **tx).await?;
            let items = rows.iter().map(|r| r.try_get("item_id")).collect::<Result<Vec<i64>, _>>()?;
            let packs = rows.iter().map(|r| r.try_get("pack_id")).collect::<Result<Vec<i64>, _>>()?;
            slot.insert((items, packs));
        }
        let (items, packs) = &cache[&plan];
        e.links = std::mem::take(&mut e.links).with_items(items.iter().copied(), packs.iter().copied());
    }
    Ok(())
}

/// Appends `entries` in the caller's transaction, in order; returns the new head.
pub async fn append(tx: &mut Tx, backend: Backend, entries: Vec<Entry>, now: i64) -> AppResult<Option<Head>> {
    if entries.is_empty() || DISABLED.load(std::sync::atomic::Ordering::Relaxed) {
        return Ok(None);
    }
    if backend == Backend::Postgres {
        sqlx::query("select pg_advisory_xact_lock($1)").bind(APPEND_LOCK).execute(&mut **tx).await?;
    }
    let mut head = head_in(tx).await?;
    for entry in entries {
        let r = seal(entry, &head, now);
        insert(tx, &r).await?;
        head = Head { seq: r.seq, hash: r.hash };
    }
    Ok(Some(head))
}

async fn head_in(tx: &mut Tx) -> AppResult<Head> {
    let row = sqlx::query("select seq, hash from audit_log order by seq desc limit 1").fetch_optional(&mut **tx).await?;
    Ok(match row {
        Some(r) => Head { seq: r.try_get("seq")?, hash: r.try_get("hash")? },
        None => Head::empty(),
    })
}

fn json(v: &impl serde::Serialize) -> String {
    serde_json::to_string(v).expect("audit parts serialise")
}

/// Writes one sealed record with its link rows (appends go through [`append`]; the benchmark
/// writes a million records straight through this).
pub async fn insert(tx: &mut Tx, r: &Record) -> AppResult<()> {
    sqlx::query(
        "insert into audit_log (seq, at, actor, role, door, action, subject, plan_id, step_id, approval_id, override_id, items, packs,
         summary, fields, prev_hash, hash) values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)",
    )
    .bind(r.seq)
    .bind(r.at)
    .bind(&r.actor)
    .bind(r.role.map(|r| r.as_str()))
    .bind(r.door.as_str())
    .bind(r.action.as_str())
    .bind(&r.subject)
    .bind(r.links.plan)
    .bind(r.links.step.as_deref())
    .bind(r.links.approval)
    .bind(r.links.override_id)
    .bind(json(&r.links.items))
    .bind(json(&r.links.packs))
    .bind(&r.summary)
    .bind(json(&r.fields))
    .bind(&r.prev_hash)
    .bind(&r.hash)
    .execute(&mut **tx)
    .await?;
    for (kind, ids) in [("item", &r.links.items), ("pack", &r.links.packs)] {
        for id in ids {
            // `on conflict`: only rows left behind by records deleted behind the product's back
            // can collide, and they must not stop the log from going on.
            sqlx::query("insert into audit_subjects (kind, id, seq) values ($1, $2, $3) on conflict do nothing")
                .bind(kind)
                .bind(*id)
                .bind(r.seq)
                .execute(&mut **tx)
                .await?;
        }
    }
    Ok(())
}

/// An `audit_log` row as stored.
#[derive(sqlx::FromRow)]
struct AuditRow {
    seq: i64,
    at: i64,
    actor: String,
    role: Option<String>,
    door: String,
    action: String,
    subject: String,
    plan_id: Option<i64>,
    step_id: Option<String>,
    approval_id: Option<i64>,
    override_id: Option<i64>,
    items: String,
    packs: String,
    summary: String,
    fields: String,
    prev_hash: String,
    hash: String,
}

const COLUMNS: &str = "seq, at, actor, role, door, action, subject, plan_id, step_id, approval_id, override_id, items, packs, summary,
    fields, prev_hash, hash";

impl TryFrom<AuditRow> for Record {
    type Error = AppError;
    fn try_from(r: AuditRow) -> AppResult<Record> {
        const T: &str = "audit_log";
        let id = r.seq;
        let role = match &r.role {
            Some(role) => Some(column(T, id, "role", role, crate::auth::model::Role::parse)?),
            None => None,
        };
        Ok(Record {
            seq: r.seq,
            at: r.at,
            role,
            door: column(T, id, "door", &r.door, Door::parse)?,
            action: column(T, id, "action", &r.action, Action::parse)?,
            links: Links {
                plan: r.plan_id,
                step: r.step_id,
                approval: r.approval_id,
                override_id: r.override_id,
                items: json_column(T, id, "items", &r.items)?,
                packs: json_column(T, id, "packs", &r.packs)?,
            },
            fields: json_column(T, id, "fields", &r.fields)?,
            actor: r.actor,
            subject: r.subject,
            summary: r.summary,
            prev_hash: r.prev_hash,
            hash: r.hash,
        })
    }
}

pub async fn head(db: &Db) -> AppResult<Head> {
    let row = sqlx::query("select seq, hash from audit_log order by seq desc limit 1").fetch_optional(db.reader()).await?;
    Ok(match row {
        Some(r) => Head { seq: r.try_get("seq")?, hash: r.try_get("hash")? },
        None => Head::empty(),
    })
}

/// Most this many records in a page.
pub const MAX_PAGE: i64 = 500;

/// Records matching `f`, newest first (before `f.before`); `limit` of them (clamped to 1..=500).
pub async fn list(db: &Db, f: &AuditFilter) -> AppResult<Vec<Record>> {
    let limit = f.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    select(db, f, Order::NewestBefore(f.before.unwrap_or(i64::MAX)), limit).await
}

/// Records matching `f` after sequence number `after`, oldest first (the export's pages).
pub async fn matching_after(db: &Db, f: &AuditFilter, after: i64, limit: i64) -> AppResult<Vec<Record>> {
    select(db, f, Order::OldestAfter(after), limit).await
}

enum Order {
    NewestBefore(i64),
    OldestAfter(i64),
}

async fn select(db: &Db, f: &AuditFilter, order: Order, limit: i64) -> AppResult<Vec<Record>> {
    let (action, area) = match f.action.as_deref().map(str::trim).filter(|a| !a.is_empty()) {
        Some(a) => match a.strip_suffix(".*") {
            Some(area) => (String::new(), format!("{area}.%")),
            None => (a.to_string(), String::new()),
        },
        None => (String::new(), String::new()),
    };
    let (cursor, at) = match order {
        Order::NewestBefore(before) => ("seq < $1 order by seq desc", before),
        Order::OldestAfter(after) => ("seq > $1 order by seq", after),
    };
    let (bound, sort) = cursor.split_once(" order by ").expect("a cursor and its order");
    let sql = format!(
        "select {COLUMNS} from audit_log where {bound}
         and ($2 < 0 or plan_id = $2) and ($3 < 0 or approval_id = $3) and ($4 < 0 or override_id = $4)
         and ($5 < 0 or seq in (select seq from audit_subjects where kind = 'item' and id = $5))
         and ($6 < 0 or seq in (select seq from audit_subjects where kind = 'pack' and id = $6))
         and ($7 = '' or actor = $7) and ($8 = '' or action = $8) and ($9 = '' or action like $9)
         and at >= $10 and at < $11
         order by {sort} limit $12"
    );
    let rows: Vec<AuditRow> = sqlx::query_as(&sql)
        .bind(at)
        .bind(f.plan.unwrap_or(-1))
        .bind(f.approval.unwrap_or(-1))
        .bind(f.override_id.unwrap_or(-1))
        .bind(f.item.unwrap_or(-1))
        .bind(f.pack.unwrap_or(-1))
        .bind(f.actor.as_deref().map(str::trim).unwrap_or(""))
        .bind(action)
        .bind(area)
        .bind(f.since.unwrap_or(i64::MIN))
        .bind(f.until.unwrap_or(i64::MAX))
        .bind(limit)
        .fetch_all(db.reader())
        .await?;
    rows.into_iter().map(Record::try_from).collect()
}

/// Records per read of [`verify`].
const VERIFY_CHUNK: i64 = 10_000;

/// A record as [`verify`] reads it: one element of a chunk's JSON array.
#[derive(serde::Deserialize)]
struct WireRecord {
    seq: i64,
    at: i64,
    actor: String,
    role: Option<String>,
    door: String,
    action: String,
    subject: String,
    plan: Option<i64>,
    step: Option<String>,
    approval: Option<i64>,
    override_id: Option<i64>,
    items: Vec<i64>,
    packs: Vec<i64>,
    summary: String,
    fields: serde_json::Value,
    prev_hash: String,
    hash: String,
}

impl WireRecord {
    fn record(self) -> Option<Record> {
        let role = match &self.role {
            Some(r) => Some(crate::auth::model::Role::parse(r)?),
            None => None,
        };
        Some(Record {
            seq: self.seq,
            at: self.at,
            actor: self.actor,
            role,
            door: Door::parse(&self.door)?,
            action: Action::parse(&self.action)?,
            subject: self.subject,
            links: Links {
                plan: self.plan,
                step: self.step,
                approval: self.approval,
                override_id: self.override_id,
                items: self.items,
                packs: self.packs,
            },
            summary: self.summary,
            fields: self.fields,
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// What one read of the log gave: its records in order, and, when a row cannot even be read as
/// a record (a value edited into something no record holds), that row's sequence number.
struct Chunk {
    records: Vec<Record>,
    unreadable: Option<i64>,
}

/// Up to [`VERIFY_CHUNK`] records after `after`, as one JSON array built by the database: a
/// row per record costs a hand-off between SQLite's thread and ours, which dominated reading a
/// million records one row at a time. With the chunk's last sequence number and size; `None`
/// when a value is not even valid JSON.
async fn chunk_json(db: &Db, after: i64) -> Option<(String, Option<i64>, i64)> {
    let columns = |json: &str| {
        format!(
            "seq, at, actor, role, door, action, subject, plan_id, step_id, approval_id, override_id, {json}(items), {json}(packs),
             summary, {json}(fields), prev_hash, hash"
        )
    };
    let sql = match db.backend {
        Backend::Sqlite => format!(
            "select coalesce(json_group_array(json_array({})), '[]') as chunk, max(seq) as last, count(*) as n from
             (select * from audit_log where seq > $1 order by seq limit $2)",
            columns("json")
        ),
        Backend::Postgres => format!(
            "select coalesce(json_agg(json_build_array({}) order by seq)::text, '[]') as chunk, max(seq) as last, count(*) as n from
             (select * from audit_log where seq > $1 order by seq limit $2) t",
            columns("json")
                .replace("json(items)", "items::json")
                .replace("json(packs)", "packs::json")
                .replace("json(fields)", "fields::json")
        ),
    };
    let row = sqlx::query(&sql).bind(after).bind(VERIFY_CHUNK).fetch_one(db.reader()).await.ok()?;
    Some((row.try_get("chunk").ok()?, row.try_get("last").ok()?, row.try_get("n").ok()?))
}

/// The next chunk after `after`: read as one JSON array (decoded later), or row by row when
/// some row's value is not valid JSON (to find which); with its last sequence number and size
/// (0 once a row could not be read: the check stops there).
async fn read_chunk(db: &Db, after: i64) -> anyhow::Result<(Result<String, Chunk>, Option<i64>, i64)> {
    if let Some((json, last, n)) = chunk_json(db, after).await {
        return Ok((Ok(json), last, n));
    }
    let rows: Vec<AuditRow> = sqlx::query_as(&format!("select {COLUMNS} from audit_log where seq > $1 order by seq limit $2"))
        .bind(after)
        .bind(VERIFY_CHUNK)
        .fetch_all(db.reader())
        .await?;
    let mut records = vec![];
    for row in rows {
        let seq = row.seq;
        match Record::try_from(row) {
            Ok(r) => records.push(r),
            Err(_) => return Ok((Err(Chunk { records, unreadable: Some(seq) }), None, 0)),
        }
    }
    let (last, n) = (records.last().map(|r| r.seq), records.len() as i64);
    Ok((Err(Chunk { records, unreadable: None }), last, n))
}

/// Decodes a chunk's JSON array (on a blocking thread).
fn decode(json: &str) -> Chunk {
    let Ok(mut rows) = serde_json::from_str::<Vec<WireRecord>>(json) else {
        // The database built it from valid values: only a shape no record has gets here.
        return Chunk { records: vec![], unreadable: Some(0) };
    };
    rows.sort_by_key(|r| r.seq);
    let mut records = Vec::with_capacity(rows.len());
    for row in rows {
        let seq = row.seq;
        match row.record() {
            Some(r) => records.push(r),
            None => return Chunk { records, unreadable: Some(seq) },
        }
    }
    Chunk { records, unreadable: None }
}

/// Recomputes the chain from the first record; checks it reaches `expect` when given. Chunks
/// are decoded and hashed on the blocking pool (every hash depends only on its own record) while
/// the next chunk is read.
pub async fn verify(db: &Db, expect: Option<&Head>) -> anyhow::Result<ChainStatus> {
    type Work = tokio::task::JoinHandle<(Chunk, Vec<String>)>;
    let mut verifier = Verifier::default();
    let mut after = 0i64;
    let mut pending: Option<Work> = None;
    let mut unreadable: Option<i64> = None;
    let check = |verifier: &mut Verifier, unreadable: &mut Option<i64>, (chunk, hashes): (Chunk, Vec<String>)| {
        for (r, h) in chunk.records.iter().zip(&hashes) {
            verifier.push(r, h);
        }
        if chunk.unreadable.is_some() && verifier.intact() {
            *unreadable = chunk.unreadable;
        }
    };
    loop {
        let (read, last, n) = read_chunk(db, after).await?;
        let work: Work = tokio::task::spawn_blocking(move || {
            let chunk = match read {
                Ok(json) => decode(&json),
                Err(chunk) => chunk,
            };
            let hashes = hashed(&chunk.records);
            (chunk, hashes)
        });
        // The previous chunk is checked while this one is decoded and hashed.
        if let Some(previous) = pending.replace(work) {
            check(&mut verifier, &mut unreadable, previous.await?);
            if !verifier.intact() || unreadable.is_some() {
                pending = None;
                break;
            }
        }
        match last {
            Some(last) if n == VERIFY_CHUNK => after = last,
            _ => break,
        }
    }
    if let Some(last) = pending.take() {
        check(&mut verifier, &mut unreadable, last.await?);
    }
    let at = match expect {
        Some(h) if h.seq > 0 => sqlx::query("select hash from audit_log where seq = $1")
            .bind(h.seq)
            .fetch_optional(db.reader())
            .await?
            .map(|r| r.get::<String, _>("hash")),
        _ => None,
    };
    let mut status = verifier.finish(expect, |_| at);
    if let (None, Some(seq)) = (&status.broken, unreadable) {
        // A row no record can hold was edited: altered (the first one after the intact part).
        status.broken = Some(Break { seq: if seq > 0 { seq } else { status.head.seq + 1 }, problem: Problem::Altered });
    }
    Ok(status)
}

/// `hash_of` for each record, spread over the cores.
fn hashed(records: &[Record]) -> Vec<String> {
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(8);
    if threads == 1 || records.len() < 512 {
        return records.iter().map(hash_of).collect();
    }
    let per = records.len().div_ceil(threads);
    std::thread::scope(|s| {
        let parts: Vec<_> = records.chunks(per).map(|part| s.spawn(move || part.iter().map(hash_of).collect::<Vec<_>>())).collect();
        parts.into_iter().flat_map(|p| p.join().expect("hashing does not panic")).collect()
    })
}
