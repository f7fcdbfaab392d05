//! Demo data, so every screen has something to show: ten groups, a small organisation of about
//! eighty people with their memberships and a year of membership history, events, RSVPs and
//! mentoring. A synthetic organisation for benchmarks is in [`synthetic`].
//!
//! **Loading it again changes nothing, and moves the demo to today.** Every date is relative to
//! the day of loading. Events and mentoring offers have fixed ids (see [`demo_id`]); a later
//! load finds them and shifts them, their RSVPs and their requests forward by the days that
//! have passed since the first load (measured by the row's `created_at`), so an old demo gets
//! its upcoming events back instead of a second copy. The membership history and the audit log
//! are append-only (the database refuses to rewrite them): they are written once and age.
//!
//! The loader writes plain SQL rather than calling the domain functions: those create rows
//! "now", for a caller, with a new random id, while the demo needs past events, decisions made
//! weeks ago and fixed ids. The rules it would otherwise bypass (capacity and waitlist order,
//! members-only RSVPs, mentors who show their membership, accepted requests within the slots)
//! are checked over the loaded data by `tests/api/demo.rs`.

mod activity;
mod mentoring;
pub mod synthetic;

use anyhow::Context;
use secrecy::SecretString;
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use time::{OffsetDateTime, Time};
use uuid::Uuid;

use crate::accounts::password::{Hasher, NewPassword};

/// Every demo account signs in with this password.
pub const DEMO_PASSWORD: &str = "belong-demo-password";
pub const DEMO_ADMIN: &str = "admin@belong.example";
pub const DEMO_HR: &str = "hr@belong.example";
pub const DEMO_LEAD: &str = "lead@belong.example";
pub const DEMO_EMPLOYEE: &str = "employee@belong.example";

/// The demo sign-ins and what each can do, as `cargo run` prints them.
pub const ACCOUNTS: &[(&str, &str)] = &[
    (
        DEMO_ADMIN,
        "admin: grants roles, deactivates accounts, reads the audit log, sees every group",
    ),
    (
        DEMO_HR,
        "HR: downloads the reports (groups.csv, memberships.csv, breakdown.csv)",
    ),
    (
        DEMO_LEAD,
        "lead of Pride (with a co-lead), Veterans and Women: approves join requests, \
         runs events, decides mentoring requests",
    ),
    (
        DEMO_EMPLOYEE,
        "employee: member of Generations, ally of Pride; RSVPs, a waitlist place, mentoring, \
         a calendar feed",
    ),
];

/// The groups whose membership is the most sensitive to disclose.
// PRIVACY NOTICES (issue 9): when privacy notices exist, the demo gives these groups a notice
// and leaves one membership with an accepted notice that is out of date. Load them in
// `demo()` at the place marked "PRIVACY NOTICES".
pub const SENSITIVE_GROUPS: &[&str] = &["abilities", "pride"];

struct DemoGroup {
    slug: &'static str,
    name: &'static str,
    tagline: &'static str,
    mission: &'static str,
    description: &'static str,
    approval: bool,
}

/// Privacy notices of the demo groups whose membership can reveal health, sexual orientation,
/// ethnicity or military service: what joining shows, and to whom.
const NOTICES: &[(&str, &str)] = &[
    (
        "abilities",
        "Joining this network can say something about your health or the health of someone you care for. \
         You choose who sees your membership: everyone, only other members who show theirs, or only the leads. \
         Leads see the whole roster with contact details and never share it. HR sees counts only, never your name \
         unless you make your membership public. You can leave at any time, and nobody is told.",
    ),
    (
        "pride",
        "Membership of this network may be read as a statement about your sexual orientation or gender identity, \
         whether you are a member or an ally. Your membership is hidden from colleagues outside the group unless you make \
         it public; members who show theirs to the group see each other, and only the leads see private memberships. \
         HR reports count members without naming anyone who has not chosen to be public. Leave whenever you like.",
    ),
    (
        "veterans",
        "Joining tells others that you served, or support those who did. Choose who may see it: everyone, members who show \
         theirs, or only the leads. The leads keep the roster to themselves; HR reports count members and name only \
         those who made their membership public. Leaving is always open to you.",
    ),
    (
        "native-peoples",
        "Membership can reveal your heritage. You decide whether everyone, the members who show theirs, or only the leads \
         may see it. HR sees numbers, and names only public memberships. You may leave at any time.",
    ),
];

const GROUPS: &[DemoGroup] = &[
    DemoGroup {
        slug: "armenian",
        name: "Armenian Heritage Network",
        tagline: "Sharing Armenian culture, history and community at work",
        mission: "We bring together colleagues of Armenian descent and everyone curious about Armenian culture, to celebrate traditions, remember our history and support one another's careers.",
        description: "Monthly meet-ups, a spring remembrance event, cooking evenings and a mentoring circle for new hires.",
        approval: false,
    },
    DemoGroup {
        slug: "asian-pacific-islander",
        name: "Asian & Pacific Islander Alliance",
        tagline: "A home for Asian and Pacific Islander colleagues and their allies",
        mission: "We build connection across the many cultures of Asia and the Pacific Islands, grow leaders, and make sure our colleagues' voices shape how we care for patients and each other.",
        description: "Lunar New Year celebrations, leadership workshops, and a speaker series during Asian American and Pacific Islander Heritage Month.",
        approval: false,
    },
    DemoGroup {
        slug: "black-employees",
        name: "Black Employee Network",
        tagline: "Community, advancement and advocacy for Black colleagues",
        mission: "We support the growth and retention of Black colleagues through mentoring, professional development and community, and we partner with the organisation on health equity.",
        description: "Career panels, a Juneteenth gathering, sponsorship programmes and volunteering in the neighbourhoods we serve.",
        approval: false,
    },
    DemoGroup {
        slug: "abilities",
        name: "Abilities Network",
        tagline: "Colleagues with disabilities, caregivers and allies, working for access",
        mission: "We make the workplace more accessible for people with visible and invisible disabilities, share practical advice on accommodations, and give caregivers a place to be heard.",
        description: "Accessibility reviews of our tools and buildings, a peer support circle, and awareness events through the year. Membership here is private by default for many of our members: choose what suits you.",
        approval: true,
    },
    DemoGroup {
        slug: "generations",
        name: "Generations Network",
        tagline: "Learning across every stage of a career",
        mission: "We connect colleagues of every age and career stage, so that experience and fresh perspectives flow in both directions.",
        description: "Reverse mentoring, retirement-planning talks, early-career socials and a book club.",
        approval: false,
    },
    DemoGroup {
        slug: "latinx",
        name: "Latinx Network",
        tagline: "Celebrating Latin American heritage and growing Latinx leaders",
        mission: "We celebrate the cultures of Latin America, support Latinx colleagues in their careers, and help our services reach Spanish- and Portuguese-speaking communities.",
        description: "Hispanic Heritage Month events, language exchanges, and a leadership development cohort.",
        approval: false,
    },
    DemoGroup {
        slug: "native-peoples",
        name: "Native American, Native Hawaiian & Alaskan Native Network",
        tagline: "Honouring Indigenous cultures and supporting Indigenous colleagues",
        mission: "We create space for Native American, Native Hawaiian and Alaskan Native colleagues, honour Indigenous knowledge, and advise on care that respects tribal communities.",
        description: "Land acknowledgement guidance, Native American Heritage Month events, and partnerships with tribal health organisations.",
        approval: false,
    },
    DemoGroup {
        slug: "pride",
        name: "Pride Network",
        tagline: "LGBTQIA+ colleagues and allies, out and proud at work",
        mission: "We build a workplace where LGBTQIA+ colleagues can bring their whole selves to work, and we advocate for inclusive care for LGBTQIA+ patients.",
        description: "Pride month, inclusive-language training, a coming-out support circle and social evenings. Many members keep their membership private; the choice is always yours.",
        approval: true,
    },
    DemoGroup {
        slug: "veterans",
        name: "Veterans Network",
        tagline: "Veterans, service members, military families and supporters",
        mission: "We help veterans and military families find their place in civilian careers, translate military experience into new roles, and honour service.",
        description: "Transition mentoring, a Veterans Day ceremony, and support for colleagues on reserve duty.",
        approval: false,
    },
    DemoGroup {
        slug: "women",
        name: "Women's Network",
        tagline: "Advancing women in every role and at every level",
        mission: "We champion women's leadership, close gaps in pay and promotion, and support colleagues through every life stage from parenthood to menopause.",
        description: "Leadership circles, negotiation workshops, returners' support and an annual International Women's Day summit.",
        approval: false,
    },
];

const FIRST: &[&str] = &[
    "Amara", "Bao", "Carmen", "Dmitri", "Esi", "Farid", "Grace", "Hiro", "Imani", "Jonah", "Kai",
    "Lucia", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sami", "Tariq", "Uma", "Viktor",
    "Wen", "Yara", "Zoë", "Aroha", "Bilal", "Chidi", "Daria", "Emeka", "Fatima", "Gael", "Hana",
    "Ivan", "Jia", "Kalani",
];
const LAST: &[&str] = &[
    "Okafor",
    "Nguyen",
    "García",
    "Petrosyan",
    "Mensah",
    "Haddad",
    "Kim",
    "Tanaka",
    "Johnson",
    "Cohen",
    "Kahale",
    "Silva",
    "Ramírez",
    "Brown",
    "Aziz",
    "Patel",
    "Walker",
    "Flores",
    "Hassan",
    "Malik",
];
const DEPARTMENTS: &[&str] = &[
    "Nursing",
    "Pharmacy",
    "Finance",
    "IT",
    "Radiology",
    "Human Resources",
    "Facilities",
    "Research",
];
const LOCATIONS: &[&str] = &[
    "Oakland", "Pasadena", "Portland", "Denver", "Atlanta", "Honolulu",
];

/// Loads the demo groups and accounts. Idempotent.
pub async fn demo(pool: &PgPool, hasher: &Hasher) -> anyhow::Result<()> {
    let password = NewPassword::parse(SecretString::from(DEMO_PASSWORD))
        .map_err(|e| anyhow::anyhow!("the demo password {e}"))?;
    let hash = hasher.hash(&password).await?;
    let mut tx = pool.begin().await?;
    // Two services starting together on one database load the demo one after the other.
    sqlx::query!("SELECT pg_advisory_xact_lock(hashtext('belong-demo'))")
        .execute(&mut *tx)
        .await?;

    let mut people: Vec<(String, String, &str, &str)> = vec![
        (
            DEMO_ADMIN.into(),
            "Ada Admin".into(),
            "Human Resources",
            "Oakland",
        ),
        (
            DEMO_HR.into(),
            "Harriet Hughes".into(),
            "Human Resources",
            "Pasadena",
        ),
        (DEMO_LEAD.into(), "Leo Lead".into(), "Nursing", "Portland"),
        (DEMO_EMPLOYEE.into(), "Erin Employee".into(), "IT", "Denver"),
    ];
    for i in 0..FIRST.len() {
        let first = FIRST[i];
        let last = LAST[(i * 7) % LAST.len()];
        let email = format!("{}.{}@belong.example", ascii(first), ascii(last));
        people.push((
            email,
            format!("{first} {last}"),
            DEPARTMENTS[i % DEPARTMENTS.len()],
            LOCATIONS[(i * 5) % LOCATIONS.len()],
        ));
    }
    // A second cohort, so that the larger groups have enough people for HR's reports to show
    // their counts (cells under `reports.min_cell_size` are suppressed).
    for j in 0..COHORT {
        let first_index = j % FIRST.len();
        let first = FIRST[first_index];
        let last = LAST[(first_index * 7 + 3 + 5 * (j / FIRST.len())) % LAST.len()];
        people.push((
            cohort_email(j),
            format!("{first} {last}"),
            DEPARTMENTS[(j * 3) % DEPARTMENTS.len()],
            LOCATIONS[j % 3],
        ));
    }
    for (email, name, department, location) in &people {
        sqlx::query!(
            "INSERT INTO users (email, password_hash, display_name, department, location)
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (email) DO NOTHING",
            email,
            hash,
            name,
            department,
            location
        )
        .execute(&mut *tx)
        .await?;
    }
    sqlx::query!(
        "INSERT INTO user_roles (user_id, role)
         SELECT id, 'admin'::global_role FROM users WHERE email = $1
         UNION ALL SELECT id, 'hr'::global_role FROM users WHERE email = $2
         ON CONFLICT DO NOTHING",
        DEMO_ADMIN,
        DEMO_HR
    )
    .execute(&mut *tx)
    .await?;

    for g in GROUPS {
        let policy = if g.approval { "approval" } else { "open" };
        sqlx::query!(
            "INSERT INTO groups (slug, name, tagline, mission, description, join_policy)
             VALUES ($1, $2, $3, $4, $5, $6::text::join_policy) ON CONFLICT (slug) DO NOTHING",
            g.slug,
            g.name,
            g.tagline,
            g.mission,
            g.description,
            policy
        )
        .execute(&mut *tx)
        .await?;
    }

    // Privacy notices for the groups whose membership says most about a person, written once
    // (a later seed leaves a notice that was edited since alone).
    for (slug, text) in NOTICES {
        sqlx::query!(
            "UPDATE groups SET privacy_notice = $2, privacy_notice_version = 1,
                               privacy_notice_updated_at = now()
             WHERE slug = $1 AND privacy_notice_version = 0",
            slug,
            text
        )
        .execute(&mut *tx)
        .await?;
    }

    // Memberships: the demo lead leads three groups; everyone else joins a spread of groups
    // with every type, visibility and status represented.
    let mut plan: Vec<(String, &str, &str, &str, &str, &str)> = Vec::new();
    for slug in ["pride", "veterans", "women"] {
        plan.push((DEMO_LEAD.into(), slug, "member", "lead", "active", "public"));
    }
    plan.push((
        DEMO_EMPLOYEE.into(),
        "generations",
        "member",
        "member",
        "active",
        "public",
    ));
    plan.push((
        DEMO_EMPLOYEE.into(),
        "pride",
        "ally",
        "member",
        "active",
        "members",
    ));
    let visibilities = ["public", "members", "private", "members"];
    for (i, (email, ..)) in people.iter().enumerate().take(4 + FIRST.len()).skip(4) {
        for k in 0..3 {
            let g = &GROUPS[(i * 3 + k * 4) % GROUPS.len()];
            let kind = if (i + k) % 4 == 0 { "ally" } else { "member" };
            let status = if g.approval && (i + k) % 5 == 0 {
                "pending"
            } else {
                "active"
            };
            let role = if status == "active" && k == 0 && i % 9 == 0 {
                "lead"
            } else {
                "member"
            };
            // Leading is a public role: a lead's membership is always public.
            let visibility = if role == "lead" {
                "public"
            } else {
                visibilities[(i / 2 + k) % visibilities.len()]
            };
            plan.push((email.clone(), g.slug, kind, role, status, visibility));
        }
    }
    // The cohort: most join Women, many also Black Employees and Latinx; a co-lead for Pride
    // beside the demo lead, and more requests waiting for Pride's leads.
    for j in 0..COHORT {
        let email = cohort_email(j);
        let kind = if j % 5 == 4 { "ally" } else { "member" };
        let visibility = visibilities[j % visibilities.len()];
        if j < COHORT_WOMEN {
            plan.push((email.clone(), "women", kind, "member", "active", visibility));
        }
        // Leads are named publicly: members of type member, visibility public.
        let lead_of = |slug: &str| match (j, slug) {
            (2, "black-employees") | (3, "latinx") => Some(("member", "lead", "public")),
            _ => None,
        };
        for (slug, wanted) in [
            ("black-employees", j % 2 == 0 && j < 30),
            ("latinx", j % 3 == 0),
        ] {
            if wanted {
                let (kind, role, visibility) =
                    lead_of(slug).unwrap_or((kind, "member", visibility));
                plan.push((email.clone(), slug, kind, role, "active", visibility));
            }
        }
        match j {
            0 => plan.push((email, "pride", "member", "lead", "active", "public")),
            30..=32 => plan.push((email, "pride", kind, "member", "pending", visibility)),
            _ => {}
        }
    }
    for (email, slug, kind, role, status, visibility) in &plan {
        let event = if *status == "pending" {
            "requested"
        } else {
            "joined"
        };
        sqlx::query!(
            r#"WITH new AS (
                   INSERT INTO memberships (group_id, user_id, type, role, status, visibility, joined_at,
                                            consent_version, consented_at)
                   SELECT g.id, u.id, $3::text::membership_type, $4::text::membership_role,
                          $5::text::membership_status, $6::text::visibility, j.at,
                          CASE WHEN g.privacy_notice <> '' THEN g.privacy_notice_version END,
                          CASE WHEN g.privacy_notice <> '' THEN j.at END
                   FROM groups g, users u,
                        LATERAL (SELECT now() - make_interval(days => (abs(hashtext($1 || $2)) % 400)) AS at) j
                   WHERE g.slug = $2 AND u.email = $1
                   ON CONFLICT DO NOTHING
                   RETURNING group_id, user_id, type, role, status, visibility, joined_at, consent_version, consented_at
               )
               INSERT INTO membership_history (at, group_id, user_id, actor_id, event, type, role, status, visibility, reason,
                                               consent_version, consented_at)
               SELECT joined_at, group_id, user_id, user_id, $7::text::membership_event, type, role, status, visibility, 'demo data',
                      consent_version, consented_at
               FROM new"#,
            email,
            slug,
            kind,
            role,
            status,
            visibility,
            event
        )
        .execute(&mut *tx)
        .await
        .with_context(|| format!("seeding a membership of {slug}"))?;
    }

    let today = OffsetDateTime::now_utc().replace_time(Time::MIDNIGHT);
    activity::leavers(&mut tx).await?;
    activity::audit(&mut tx, today).await?;
    activity::events(&mut tx, today).await?;
    mentoring::load(&mut tx, today).await?;
    // PRIVACY NOTICES (issue 9): load the notices of `SENSITIVE_GROUPS` here, and one
    // membership whose accepted notice is out of date.
    tx.commit().await?;
    Ok(())
}

/// People of the second cohort.
const COHORT: usize = 40;
/// The first this many of the cohort are in Women; the rest joined it and left.
const COHORT_WOMEN: usize = 34;

fn cohort_email(j: usize) -> String {
    format!("colleague{:02}@belong.example", j + 1)
}

/// The demo accounts, left out where the demo picks "someone".
const DEMO_ACCOUNTS: [&str; 4] = [DEMO_ADMIN, DEMO_HR, DEMO_LEAD, DEMO_EMPLOYEE];

/// The fixed id of a demo row named `key`, so that a later load finds the row again: the first
/// 16 bytes of SHA-256("belong-demo/" + key), as a version 8 (custom) UUID.
pub fn demo_id(key: &str) -> Uuid {
    let digest = Sha256::digest(format!("belong-demo/{key}").as_bytes());
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    uuid::Builder::from_custom_bytes(bytes).into_uuid()
}

fn ascii(name: &str) -> String {
    name.chars()
        .map(|c| match c {
            'á' | 'à' => 'a',
            'é' | 'ë' => 'e',
            'í' => 'i',
            'ó' => 'o',
            c => c,
        })
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_lowercase()
}
