//! The demo's history (people who joined and left), its audit trail, and its events with their
//! RSVPs.

use sqlx::{Postgres, Transaction};
use time::{Duration, OffsetDateTime};

use crate::audit::Action;

use super::{COHORT, COHORT_WOMEN, DEMO_ACCOUNTS, DEMO_ADMIN, DEMO_EMPLOYEE, DEMO_HR, GROUPS};
use super::{cohort_email, demo_id};

type Tx<'a> = Transaction<'a, Postgres>;

/// People who joined a group and left it within the last year: six left Women (a count HR's
/// `groups.csv` shows), two left the Armenian Heritage Network (written `<5`). History only:
/// they have no membership now. Written once per person and group.
pub(super) async fn leavers(tx: &mut Tx<'_>) -> anyhow::Result<()> {
    let mut left: Vec<(String, &str)> = (COHORT_WOMEN..COHORT)
        .map(|j| (cohort_email(j), "women"))
        .collect();
    left.extend((36..38).map(|j| (cohort_email(j), "armenian")));
    for (email, slug) in &left {
        sqlx::query!(
            r#"WITH who AS (
                   SELECT g.id AS group_id, u.id AS user_id,
                          now() - make_interval(days => 120 + abs(hashtext($1 || $2)) % 150) AS joined_at,
                          20 + abs(hashtext($2 || $1)) % 60 AS stayed_days
                   FROM groups g, users u
                   WHERE g.slug = $2 AND u.email = $1
                     AND NOT EXISTS (SELECT 1 FROM membership_history h WHERE h.group_id = g.id AND h.user_id = u.id)
                     AND NOT EXISTS (SELECT 1 FROM memberships m WHERE m.group_id = g.id AND m.user_id = u.id)
               )
               INSERT INTO membership_history (at, group_id, user_id, actor_id, event, type, role, status, visibility, reason)
               SELECT joined_at, group_id, user_id, user_id, 'joined'::membership_event, 'member'::membership_type,
                      'member'::membership_role, 'active'::membership_status, 'members'::visibility, 'demo data' FROM who
               UNION ALL
               SELECT joined_at + make_interval(days => stayed_days), group_id, user_id, user_id, 'left'::membership_event,
                      'member'::membership_type, 'member'::membership_role, 'active'::membership_status,
                      'members'::visibility, 'demo data' FROM who"#,
            email,
            slug
        )
        .execute(&mut **tx)
        .await?;
    }
    Ok(())
}

/// What an admin finds in the audit log: the groups being set up and HR's role being granted.
/// Written once (the log is append-only).
pub(super) async fn audit(tx: &mut Tx<'_>, today: OffsetDateTime) -> anyhow::Result<()> {
    let set_up = today - Duration::days(400);
    for g in GROUPS {
        sqlx::query!(
            r#"INSERT INTO audit_log (at, actor_id, action, target, details)
               SELECT $1, u.id, $4, $2, '{"source": "demo data"}'::jsonb
               FROM users u WHERE u.email = $3
                 AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = $4 AND a.target = $2)"#,
            set_up,
            g.slug,
            DEMO_ADMIN,
            Action::GroupCreated.as_str()
        )
        .execute(&mut **tx)
        .await?;
    }
    sqlx::query!(
        r#"INSERT INTO audit_log (at, actor_id, action, target, details)
           SELECT $1, a.id, $4, h.id::text,
                  '{"before": [], "after": ["hr"], "source": "demo data"}'::jsonb
           FROM users a, users h WHERE a.email = $2 AND h.email = $3
             AND NOT EXISTS (SELECT 1 FROM audit_log l WHERE l.action = $4 AND l.target = h.id::text)"#,
        set_up + Duration::days(1),
        DEMO_ADMIN,
        DEMO_HR,
        Action::RolesChanged.as_str()
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}

/// Where the demo employee stands for an event.
#[derive(Clone, Copy)]
enum Employee {
    Absent,
    Going,
    /// On the waitlist, behind this many others.
    WaitlistedBehind(i64),
}

struct DemoEvent {
    key: &'static str,
    group: &'static str,
    title: &'static str,
    description: &'static str,
    /// Days from today (negative: past).
    day: i64,
    /// Starting hour, UTC.
    hour: i64,
    minutes: i64,
    location: Option<&'static str>,
    online_url: Option<&'static str>,
    capacity: Option<i32>,
    members_only: bool,
    cancelled: bool,
    /// Others going and waitlisted (waitlisted people need a full event).
    going: i64,
    waitlisted: i64,
    employee: Employee,
}

const EVENTS: &[DemoEvent] = &[
    DemoEvent {
        key: "women/negotiation-workshop",
        group: "women",
        title: "Negotiation workshop: asking for what you are worth",
        description: "A hands-on session with role play in pairs. Places are limited so that everyone gets to practise; join the waitlist and you will be told if a place frees up.",
        day: 6,
        hour: 16,
        minutes: 120,
        location: Some("Oakland campus, Conference Room B"),
        online_url: None,
        capacity: Some(8),
        members_only: false,
        cancelled: false,
        going: 8,
        waitlisted: 2,
        employee: Employee::WaitlistedBehind(1),
    },
    DemoEvent {
        key: "women/iwd-summit-planning",
        group: "women",
        title: "International Women's Day summit: planning call",
        description: "Members only: choosing speakers and themes for the summit.",
        day: 30,
        hour: 15,
        minutes: 60,
        location: None,
        online_url: Some("https://meet.belong.example/women-iwd"),
        capacity: None,
        members_only: true,
        cancelled: false,
        going: 6,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "pride/book-club",
        group: "pride",
        title: "Pride book club: the winter read",
        description: "Members and allies only. We pick the next book together; camera optional.",
        day: 3,
        hour: 17,
        minutes: 90,
        location: None,
        online_url: Some("https://meet.belong.example/pride-book-club"),
        capacity: None,
        members_only: true,
        cancelled: false,
        going: 4,
        waitlisted: 0,
        employee: Employee::Going,
    },
    DemoEvent {
        key: "pride/inclusive-language",
        group: "pride",
        title: "Inclusive language at the bedside",
        description: "A training session open to every colleague, with examples from our own wards.",
        day: 17,
        hour: 13,
        minutes: 60,
        location: Some("Portland clinic, Auditorium"),
        online_url: Some("https://meet.belong.example/pride-training"),
        capacity: Some(60),
        members_only: false,
        cancelled: false,
        going: 9,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "generations/reverse-mentoring",
        group: "generations",
        title: "Reverse mentoring: kick-off",
        description: "Early-career colleagues meet the senior colleagues they will mentor on new tools and ways of working.",
        day: 10,
        hour: 12,
        minutes: 60,
        location: Some("Denver office, 4th floor lounge"),
        online_url: None,
        capacity: Some(30),
        members_only: false,
        cancelled: false,
        going: 7,
        waitlisted: 0,
        employee: Employee::Going,
    },
    DemoEvent {
        key: "generations/retirement-talk",
        group: "generations",
        title: "Planning for retirement at any age",
        description: "Members only: a talk by our pensions team, with time for questions.",
        day: -12,
        hour: 12,
        minutes: 60,
        location: None,
        online_url: Some("https://meet.belong.example/generations-pensions"),
        capacity: None,
        members_only: true,
        cancelled: false,
        going: 5,
        waitlisted: 0,
        employee: Employee::Going,
    },
    DemoEvent {
        key: "veterans/veterans-day",
        group: "veterans",
        title: "Veterans Day ceremony",
        description: "A short ceremony of remembrance, followed by coffee with the network.",
        day: -18,
        hour: 11,
        minutes: 60,
        location: Some("Pasadena campus, Memorial Garden"),
        online_url: None,
        capacity: None,
        members_only: false,
        cancelled: false,
        going: 12,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "veterans/transition-clinic",
        group: "veterans",
        title: "Transition clinic: your CV in civilian terms",
        description: "Bring your CV; volunteers help you translate military roles into the language of our job descriptions.",
        day: 24,
        hour: 17,
        minutes: 90,
        location: Some("Pasadena campus, Room 12"),
        online_url: None,
        capacity: Some(12),
        members_only: false,
        cancelled: false,
        going: 3,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "black-employees/career-panel",
        group: "black-employees",
        title: "Career panel: paths into leadership",
        description: "Four colleagues tell how they got where they are, and what they would do differently.",
        day: 14,
        hour: 16,
        minutes: 75,
        location: None,
        online_url: Some("https://meet.belong.example/ben-career-panel"),
        capacity: None,
        members_only: false,
        cancelled: false,
        going: 10,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "latinx/language-exchange",
        group: "latinx",
        title: "Language exchange lunch",
        description: "Spanish, Portuguese and English at one table. Cancelled: the room is being renovated; a new date follows.",
        day: 2,
        hour: 12,
        minutes: 60,
        location: Some("Oakland campus, Cafeteria"),
        online_url: None,
        capacity: Some(20),
        members_only: false,
        cancelled: true,
        going: 5,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "asian-pacific-islander/leadership-workshop",
        group: "asian-pacific-islander",
        title: "Leadership workshop: leading without the title",
        description: "Influence, sponsorship and speaking up in meetings.",
        day: -40,
        hour: 16,
        minutes: 120,
        location: None,
        online_url: Some("https://meet.belong.example/apia-leadership"),
        capacity: None,
        members_only: false,
        cancelled: false,
        going: 6,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "armenian/cooking-evening",
        group: "armenian",
        title: "Cooking evening: dolma and gata",
        description: "We cook together and share the recipes afterwards. Vegetarian options for everything.",
        day: 21,
        hour: 18,
        minutes: 150,
        location: Some("Oakland campus, Teaching Kitchen"),
        online_url: None,
        capacity: Some(16),
        members_only: false,
        cancelled: false,
        going: 4,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "abilities/accessibility-walk",
        group: "abilities",
        title: "Accessibility walk-through of the new wing",
        description: "Members only: we walk the new wing with Facilities and note what needs fixing.",
        day: 8,
        hour: 14,
        minutes: 90,
        location: Some("Portland clinic, main entrance"),
        online_url: None,
        capacity: Some(10),
        members_only: true,
        cancelled: false,
        going: 3,
        waitlisted: 0,
        employee: Employee::Absent,
    },
    DemoEvent {
        key: "native-peoples/heritage-talk",
        group: "native-peoples",
        title: "Native American Heritage Month talk",
        description: "A guest speaker from a partner tribal health organisation on care that respects tribal communities.",
        day: -5,
        hour: 17,
        minutes: 60,
        location: None,
        online_url: Some("https://meet.belong.example/heritage-talk"),
        capacity: None,
        members_only: false,
        cancelled: false,
        going: 4,
        waitlisted: 0,
        employee: Employee::Absent,
    },
];

/// Loads the events and their RSVPs the first time; later, shifts each event (and its RSVPs)
/// forward by the days passed since it was loaded.
pub(super) async fn events(tx: &mut Tx<'_>, today: OffsetDateTime) -> anyhow::Result<()> {
    let demo_accounts: Vec<String> = DEMO_ACCOUNTS.iter().map(|e| e.to_string()).collect();
    for e in EVENTS {
        let id = demo_id(&format!("event/{}", e.key));
        let starts_at = today + Duration::days(e.day) + Duration::hours(e.hour);
        let ends_at = starts_at + Duration::minutes(e.minutes);
        // Posted three weeks before it starts, or three weeks ago if it starts sooner.
        let created_at = (starts_at - Duration::days(21)).min(today - Duration::days(21));
        let existing = sqlx::query_scalar!("SELECT created_at FROM events WHERE id = $1", id)
            .fetch_optional(&mut **tx)
            .await?;
        if existing.is_some() {
            shift_event(tx, id, created_at).await?;
            continue;
        }
        let cancelled_at = e.cancelled.then(|| today - Duration::days(1));
        let audience = if e.members_only {
            "members"
        } else {
            "everyone"
        };
        let inserted = sqlx::query!(
            r#"INSERT INTO events (id, group_id, title, description, starts_at, ends_at, location, online_url,
                                   capacity, audience, cancelled_at, sequence, created_by, created_at, updated_at)
               SELECT $1, g.id, $3, $4, $5, $6, $7, $8, $9, $10::text::event_audience, $11,
                      CASE WHEN $11::timestamptz IS NULL THEN 0 ELSE 1 END,
                      (SELECT m.user_id FROM memberships m
                       WHERE m.group_id = g.id AND m.role = 'lead' AND m.status = 'active'
                       ORDER BY m.joined_at, m.user_id LIMIT 1),
                      $12, coalesce($11, $12)
               FROM groups g WHERE g.slug = $2"#,
            id,
            e.group,
            e.title,
            e.description,
            starts_at,
            ends_at,
            e.location,
            e.online_url,
            e.capacity,
            audience,
            cancelled_at,
            created_at
        )
        .execute(&mut **tx)
        .await?;
        if inserted.rows_affected() == 0 {
            continue;
        }
        // Those who answer: anyone for an event for everyone, active members and allies for
        // a members-only one; never a demo account (the employee's place is set below).
        let people = sqlx::query_scalar!(
            r#"SELECT u.id FROM users u
               WHERE u.active AND u.email <> ALL($2)
                 AND (NOT $3 OR EXISTS (SELECT 1 FROM memberships m JOIN groups g ON g.id = m.group_id
                                        WHERE g.slug = $4 AND m.user_id = u.id AND m.status = 'active'))
               ORDER BY md5(u.email || $1)
               LIMIT $5"#,
            e.key,
            &demo_accounts,
            e.members_only,
            e.group,
            e.going + e.waitlisted
        )
        .fetch_all(&mut **tx)
        .await?;
        let employee = sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", DEMO_EMPLOYEE)
            .fetch_one(&mut **tx)
            .await?;
        let going_count = usize::try_from(e.going).unwrap_or(0).min(people.len());
        let (going, waiting) = people.split_at(going_count);
        let mut answers: Vec<(uuid::Uuid, &str)> = going.iter().map(|p| (*p, "going")).collect();
        if matches!(e.employee, Employee::Going) {
            answers.push((employee, "going"));
        }
        for (i, person) in waiting.iter().enumerate() {
            if matches!(e.employee, Employee::WaitlistedBehind(n) if usize::try_from(n) == Ok(i)) {
                answers.push((employee, "waitlisted"));
            }
            answers.push((*person, "waitlisted"));
        }
        // One at a time, in order: the order of insertion is the order of the waitlist.
        for (n, (user_id, status)) in answers.iter().enumerate() {
            let n = i64::try_from(n).unwrap_or(0);
            sqlx::query!(
                "INSERT INTO rsvps (event_id, user_id, status, responded_at)
                 VALUES ($1, $2, $3::text::rsvp_status, $4)",
                id,
                user_id,
                status,
                created_at + Duration::days(1) + Duration::minutes(37 * n)
            )
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Moves an event loaded on an earlier day, with its RSVPs, by the time passed since: the
/// difference between the `created_at` it would get today and the one it has. Its SEQUENCE is
/// raised so that calendars take the new times.
async fn shift_event(
    tx: &mut Tx<'_>,
    id: uuid::Uuid,
    created_at: OffsetDateTime,
) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE rsvps r SET responded_at = r.responded_at + ($2 - e.created_at)
         FROM events e WHERE e.id = r.event_id AND e.id = $1 AND e.created_at <> $2",
        id,
        created_at
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE events SET starts_at = starts_at + ($2 - created_at), ends_at = ends_at + ($2 - created_at),
                cancelled_at = cancelled_at + ($2 - created_at), updated_at = now(),
                sequence = sequence + 1, created_at = $2
         WHERE id = $1 AND created_at <> $2",
        id,
        created_at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
