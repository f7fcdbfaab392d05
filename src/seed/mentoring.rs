//! The demo's mentoring: offers open, full and closed, and requests in every state, one of them
//! the demo employee's and some waiting for the demo lead.

use sqlx::{Postgres, Transaction};
use time::{Duration, OffsetDateTime};
use uuid::Uuid;

use super::{DEMO_ACCOUNTS, DEMO_EMPLOYEE, DEMO_LEAD, demo_id};

type Tx<'a> = Transaction<'a, Postgres>;

#[derive(Clone, Copy)]
enum Mentor {
    /// The demo lead (a lead of the group).
    DemoLead,
    /// Someone the group may name as a mentor (a lead, or a member who shows the membership).
    Member,
}

#[derive(Clone, Copy)]
enum Mentee {
    DemoEmployee,
    /// Another active member or ally of the group.
    Member,
}

struct DemoOffer {
    key: &'static str,
    group: &'static str,
    mentor: Mentor,
    title: &'static str,
    description: &'static str,
    topics: &'static [&'static str],
    slots: i32,
    /// Posted this many days ago.
    age_days: i64,
    closed: bool,
    requests: &'static [(Mentee, &'static str)],
}

const OFFERS: &[DemoOffer] = &[
    DemoOffer {
        key: "women/leadership-meetings",
        group: "women",
        mentor: Mentor::DemoLead,
        title: "Finding your voice in leadership meetings",
        description: "Six conversations over three months: preparing for a meeting, getting heard, following up.",
        topics: &["leadership", "communication"],
        slots: 3,
        age_days: 20,
        closed: false,
        requests: &[
            (Mentee::Member, "accepted"),
            (Mentee::Member, "declined"),
            (Mentee::Member, "pending"),
        ],
    },
    DemoOffer {
        key: "pride/coming-out-at-work",
        group: "pride",
        mentor: Mentor::DemoLead,
        title: "Coming out at work: a confidential conversation",
        description: "For anyone thinking about being out at work, or about supporting someone who is. Nothing leaves the room.",
        topics: &["wellbeing"],
        slots: 4,
        age_days: 12,
        closed: false,
        requests: &[
            (Mentee::DemoEmployee, "pending"),
            (Mentee::Member, "accepted"),
        ],
    },
    DemoOffer {
        key: "generations/first-year",
        group: "generations",
        mentor: Mentor::Member,
        title: "Your first year: what nobody tells you",
        description: "Practical advice for early-career colleagues, from someone who started here twenty years ago.",
        topics: &["career", "onboarding"],
        slots: 2,
        age_days: 45,
        closed: false,
        requests: &[
            (Mentee::DemoEmployee, "accepted"),
            (Mentee::Member, "accepted"),
            (Mentee::Member, "withdrawn"),
        ],
    },
    DemoOffer {
        key: "veterans/civilian-cv",
        group: "veterans",
        mentor: Mentor::DemoLead,
        title: "Translating military experience for civilian roles",
        description: "Closed for now: the spring cohort is under way.",
        topics: &["career", "transition"],
        slots: 2,
        age_days: 90,
        closed: true,
        requests: &[(Mentee::Member, "accepted"), (Mentee::Member, "withdrawn")],
    },
    DemoOffer {
        key: "black-employees/sponsorship",
        group: "black-employees",
        mentor: Mentor::Member,
        title: "Finding a sponsor",
        description: "How sponsorship differs from mentoring, and how to find someone who will speak for you.",
        topics: &["career", "sponsorship"],
        slots: 3,
        age_days: 30,
        closed: false,
        requests: &[(Mentee::Member, "accepted"), (Mentee::Member, "pending")],
    },
];

/// Loads the offers and their requests the first time; later, shifts them forward by the days
/// passed since.
pub(super) async fn load(tx: &mut Tx<'_>, today: OffsetDateTime) -> anyhow::Result<()> {
    let demo_accounts: Vec<String> = DEMO_ACCOUNTS.iter().map(|e| e.to_string()).collect();
    for o in OFFERS {
        let id = demo_id(&format!("mentoring-offer/{}", o.key));
        let created_at = today - Duration::days(o.age_days) + Duration::hours(9);
        let existing =
            sqlx::query_scalar!("SELECT created_at FROM mentoring_offers WHERE id = $1", id)
                .fetch_optional(&mut **tx)
                .await?;
        if existing.is_some() {
            shift_offer(tx, id, created_at).await?;
            continue;
        }
        // The mentor must be someone the group may name (see `mentor_shown`).
        let mentor = sqlx::query_scalar!(
            r#"SELECT m.user_id FROM memberships m
               JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id
               WHERE g.slug = $1 AND u.active AND mentor_shown(m.role, m.type, m.status, m.visibility)
                 AND (CASE WHEN $2 THEN u.email = $3 ELSE u.email <> ALL($4) END)
               ORDER BY md5(u.email || $5)
               LIMIT 1"#,
            o.group,
            matches!(o.mentor, Mentor::DemoLead),
            DEMO_LEAD,
            &demo_accounts,
            o.key
        )
        .fetch_optional(&mut **tx)
        .await?;
        let Some(mentor) = mentor else {
            tracing::warn!(offer = o.key, "no one in the group can be named a mentor");
            continue;
        };
        let topics: Vec<String> = o.topics.iter().map(|t| t.to_string()).collect();
        let closed_at = o.closed.then(|| today - Duration::days(7));
        sqlx::query!(
            "INSERT INTO mentoring_offers (id, group_id, mentor_id, title, description, topics, slots,
                                           closed_at, created_by, created_at)
             SELECT $1, g.id, $3, $4, $5, $6, $7, $8, $3, $9 FROM groups g WHERE g.slug = $2",
            id,
            o.group,
            mentor,
            o.title,
            o.description,
            &topics,
            o.slots,
            closed_at,
            created_at
        )
        .execute(&mut **tx)
        .await?;
        // Mentees: active members and allies of the group other than the mentor.
        let others = o
            .requests
            .iter()
            .filter(|(m, _)| matches!(m, Mentee::Member))
            .count();
        let mut members = sqlx::query_scalar!(
            r#"SELECT m.user_id FROM memberships m
               JOIN groups g ON g.id = m.group_id JOIN users u ON u.id = m.user_id
               WHERE g.slug = $1 AND m.status = 'active' AND u.active AND m.user_id <> $2
                 AND u.email <> ALL($3)
               ORDER BY md5(u.email || $4)
               LIMIT $5"#,
            o.group,
            mentor,
            &demo_accounts,
            o.key,
            i64::try_from(others).unwrap_or(0)
        )
        .fetch_all(&mut **tx)
        .await?
        .into_iter();
        let employee: Uuid =
            sqlx::query_scalar!("SELECT id FROM users WHERE email = $1", DEMO_EMPLOYEE)
                .fetch_one(&mut **tx)
                .await?;
        for (n, (mentee, status)) in o.requests.iter().enumerate() {
            let mentee = match mentee {
                Mentee::DemoEmployee => employee,
                Mentee::Member => match members.next() {
                    Some(id) => id,
                    None => continue,
                },
            };
            let n = i64::try_from(n).unwrap_or(0);
            let asked = created_at + Duration::days(1 + n);
            let decided = (*status != "pending").then(|| asked + Duration::days(2));
            // The mentor decides; a withdrawal is the mentee's own.
            let decided_by = match *status {
                "pending" => None,
                "withdrawn" => Some(mentee),
                _ => Some(mentor),
            };
            sqlx::query!(
                "INSERT INTO mentoring_requests (id, offer_id, mentee_id, message, status, created_at,
                                                 decided_at, decided_by)
                 VALUES ($1, $2, $3, $4, $5::text::mentoring_request_status, $6, $7, $8)",
                demo_id(&format!("mentoring-request/{}/{n}", o.key)),
                id,
                mentee,
                "I would value your advice on this; I am free most afternoons.",
                status,
                asked,
                decided,
                decided_by
            )
            .execute(&mut **tx)
            .await?;
        }
    }
    Ok(())
}

/// Moves an offer loaded on an earlier day, with its requests, by the time passed since.
async fn shift_offer(tx: &mut Tx<'_>, id: Uuid, created_at: OffsetDateTime) -> anyhow::Result<()> {
    sqlx::query!(
        "UPDATE mentoring_requests r SET created_at = r.created_at + ($2 - o.created_at),
                decided_at = r.decided_at + ($2 - o.created_at)
         FROM mentoring_offers o WHERE o.id = r.offer_id AND o.id = $1 AND o.created_at <> $2",
        id,
        created_at
    )
    .execute(&mut **tx)
    .await?;
    sqlx::query!(
        "UPDATE mentoring_offers SET closed_at = closed_at + ($2 - created_at), created_at = $2
         WHERE id = $1 AND created_at <> $2",
        id,
        created_at
    )
    .execute(&mut **tx)
    .await?;
    Ok(())
}
