//! What the tool reads from (and, for the export, adds to) the server's database: the
//! largest group and its lead, an HR reader, the rows the export will send.

use std::time::Instant;

use anyhow::Context;
use sqlx::PgPool;
use uuid::Uuid;

/// The largest group (most active memberships) and the email of one of its active leads.
pub struct Largest {
    pub slug: String,
    pub members: i64,
    pub lead_email: String,
}

pub async fn connect(url: &str) -> anyhow::Result<PgPool> {
    sqlx::postgres::PgPoolOptions::new()
        .max_connections(4)
        .connect(url)
        .await
        .context("connecting to the server's database (--database-url)")
}

pub async fn largest_group(db: &PgPool) -> anyhow::Result<Largest> {
    let (slug, id, members): (String, Uuid, i64) = sqlx::query_as(
        "SELECT g.slug, g.id, count(*) FROM groups g
         JOIN memberships m ON m.group_id = g.id AND m.status = 'active'
         WHERE g.archived_at IS NULL
         GROUP BY g.id, g.slug ORDER BY count(*) DESC, g.slug LIMIT 1",
    )
    .fetch_optional(db)
    .await?
    .context("no groups with members: load the organisation first (`belong seed --synthetic`)")?;
    let lead_email: String = sqlx::query_scalar(
        "SELECT u.email FROM memberships m JOIN users u ON u.id = m.user_id
         WHERE m.group_id = $1 AND m.role = 'lead' AND m.status = 'active' AND u.active
         ORDER BY u.email LIMIT 1",
    )
    .bind(id)
    .fetch_optional(db)
    .await?
    .with_context(|| format!("the group {slug} has no active lead"))?;
    Ok(Largest {
        slug,
        members,
        lead_email,
    })
}

/// How many synthetic employees there are (`synthetic-NNNNNN@synthetic.example`).
pub async fn synthetic_employees(db: &PgPool) -> anyhow::Result<usize> {
    let n: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM users WHERE email LIKE 'synthetic-%@synthetic.example'",
    )
    .fetch_one(db)
    .await?;
    anyhow::ensure!(
        n > 0,
        "no synthetic employees: load the organisation first (`belong seed --synthetic`)"
    );
    Ok(usize::try_from(n)?)
}

pub async fn user_id(db: &PgPool, email: &str) -> anyhow::Result<Uuid> {
    sqlx::query_scalar("SELECT id FROM users WHERE email = $1")
        .bind(email)
        .fetch_optional(db)
        .await?
        .with_context(|| format!("no user {email}"))
}

/// Gives `email` the HR role, which may download reports.
pub async fn grant_hr(db: &PgPool, email: &str) -> anyhow::Result<()> {
    let granted = sqlx::query(
        "INSERT INTO user_roles (user_id, role) SELECT id, 'hr' FROM users WHERE email = $1
         ON CONFLICT DO NOTHING",
    )
    .bind(email)
    .execute(db)
    .await?;
    if granted.rows_affected() == 0 {
        user_id(db, email).await?;
    }
    Ok(())
}

/// The rows `GET /api/v1/reports/memberships.csv` sends: active public memberships of active
/// employees in groups that are not archived (src/reports/memberships.rs).
pub async fn exportable_rows(db: &PgPool) -> anyhow::Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT count(*) FROM memberships m JOIN users u ON u.id = m.user_id
         JOIN groups g ON g.id = m.group_id
         WHERE m.visibility = 'public' AND m.status = 'active' AND u.active AND g.archived_at IS NULL",
    )
    .fetch_one(db)
    .await?)
}

/// Adds active public memberships (each with its history row), spread over the groups, until
/// the export has `rows` rows; answers how many it added.
pub async fn top_up_export(db: &PgPool, rows: i64) -> anyhow::Result<i64> {
    let have = exportable_rows(db).await?;
    let missing = rows - have;
    if missing <= 0 {
        return Ok(0);
    }
    let started = Instant::now();
    // Candidate n pairs employee n mod E with group (n mod E + n div E) mod G: the first E
    // candidates give every employee one group, the next E another, and so on.
    let added = sqlx::query(
        "WITH gs AS (SELECT id, row_number() OVER (ORDER BY slug) - 1 AS k FROM groups WHERE archived_at IS NULL),
              us AS (SELECT id, row_number() OVER (ORDER BY email) - 1 AS k FROM users WHERE active),
              size AS (SELECT (SELECT count(*) FROM gs) AS g, (SELECT count(*) FROM us) AS e),
              picked AS (
                  SELECT gs.id AS group_id, us.id AS user_id, n
                  FROM size CROSS JOIN generate_series(0, size.g * size.e - 1) AS n
                  JOIN us ON us.k = n % size.e
                  JOIN gs ON gs.k = (n % size.e + n / size.e) % size.g
                  WHERE NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = gs.id AND m.user_id = us.id)
                  LIMIT $1
              ),
              new AS (
                  INSERT INTO memberships (group_id, user_id, type, role, status, visibility, joined_at)
                  SELECT group_id, user_id, 'member', 'member', 'active', 'public',
                         now() - make_interval(days => 1 + (n % 1000)::int)
                  FROM picked
                  RETURNING group_id, user_id, type, role, status, visibility, joined_at
              )
         INSERT INTO membership_history (at, group_id, user_id, actor_id, event, type, role, status, visibility, reason)
         SELECT joined_at, group_id, user_id, user_id, 'joined', type, role, status, visibility,
                'added by the load tool for the export journey'
         FROM new",
    )
    .bind(missing)
    .execute(db)
    .await?
    .rows_affected();
    sqlx::query("ANALYZE memberships, membership_history")
        .execute(db)
        .await?;
    let now = exportable_rows(db).await?;
    anyhow::ensure!(
        now >= rows,
        "the organisation has room for only {now} exportable rows ({rows} asked): load more employees"
    );
    println!(
        "added {added} public memberships in {:.1} s: the export now has {now} rows",
        started.elapsed().as_secs_f64()
    );
    Ok(i64::try_from(added)?)
}

/// The rows and completion of the last report download, from its audit record.
pub async fn last_download(db: &PgPool) -> anyhow::Result<Option<(i64, bool)>> {
    let row: Option<(Option<String>, Option<String>)> = sqlx::query_as(
        "SELECT details->>'rows', details->>'completed' FROM audit_log
         WHERE action = 'report.downloaded' ORDER BY id DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(row.and_then(|(rows, completed)| {
        Some((rows?.parse().ok()?, completed.as_deref() == Some("true")))
    }))
}
