//! Demo data: ten groups and a small organisation, so every screen has something to show.
//! Loading it twice changes nothing. A synthetic organisation for benchmarks is in
//! [`synthetic`].

pub mod synthetic;

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::accounts::password::{Hasher, NewPassword};

/// Every demo account signs in with this password.
pub const DEMO_PASSWORD: &str = "belong-demo-password";
pub const DEMO_ADMIN: &str = "admin@belong.example";
pub const DEMO_HR: &str = "hr@belong.example";
pub const DEMO_LEAD: &str = "lead@belong.example";
pub const DEMO_EMPLOYEE: &str = "employee@belong.example";

struct DemoGroup {
    slug: &'static str,
    name: &'static str,
    tagline: &'static str,
    mission: &'static str,
    description: &'static str,
    approval: bool,
}

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
    for (i, (email, ..)) in people.iter().enumerate().skip(4) {
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
            plan.push((
                email.clone(),
                g.slug,
                kind,
                role,
                status,
                visibilities[(i / 2 + k) % visibilities.len()],
            ));
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
                   INSERT INTO memberships (group_id, user_id, type, role, status, visibility, joined_at)
                   SELECT g.id, u.id, $3::text::membership_type, $4::text::membership_role,
                          $5::text::membership_status, $6::text::visibility,
                          now() - make_interval(days => (abs(hashtext($1 || $2)) % 400))
                   FROM groups g, users u WHERE g.slug = $2 AND u.email = $1
                   ON CONFLICT DO NOTHING
                   RETURNING group_id, user_id, type, role, status, visibility, joined_at
               )
               INSERT INTO membership_history (at, group_id, user_id, actor_id, event, type, role, status, visibility, reason)
               SELECT joined_at, group_id, user_id, user_id, $7::text::membership_event, type, role, status, visibility, 'demo data'
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
    tx.commit().await?;
    Ok(())
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
