//! A synthetic organisation for benchmarks: `belong seed --synthetic`.
//!
//! It is generated inside PostgreSQL, set-based (`INSERT ... SELECT FROM generate_series`), in
//! one transaction, so that 50,000 employees, 100 groups and 200,000 memberships load in
//! seconds. Everything is deterministic: the same sizes give the same organisation.
//!
//! - Employee `n` (1-based) is `synthetic-<n, six digits or more>@synthetic.example`, with the
//!   id `md5('belong-synthetic-user:' || n)::uuid` (so a pgbench script can name a random
//!   employee without a lookup), a department and a location drawn from a weighted mix, and the
//!   password [`SYNTHETIC_PASSWORD`] (one argon2id hash, computed once, shared by every user).
//! - Group `g` has the slug `syn-<g, three digits or more>-<theme>` and the id
//!   `md5('belong-synthetic-group:' || g)::uuid`. Twenty themes, each with chapters in several
//!   locations. Sensitive themes (Pride, Abilities, Neurodiversity, Mental Health) ask for
//!   approval to join and have more private memberships.
//! - Group sizes are skewed (Zipf, exponent 0.8: with the defaults the largest group has about
//!   25,000 memberships and the smallest about 600). Group `g` takes its members by walking the
//!   employees with a stride coprime to their number, so a group never holds anyone twice and
//!   employees belong to about four groups each, some to none.
//! - The first one to three members of each group are its leads (active, public). About 20% of
//!   the other memberships are allies; visibility is mostly `members`, about a quarter
//!   `public`, the rest `private`; about 3% of the memberships of approval groups are pending.
//!   Every membership has its history row (`joined`, or `requested` when pending) at its
//!   `joined_at`, spread over the last three years.
//!
//! Loading twice changes nothing when the sizes are the same, and is refused with a clear
//! message when they differ (load into a fresh database instead).

use std::time::{Duration, Instant};

use anyhow::Context;
use secrecy::SecretString;
use sqlx::PgPool;

use crate::accounts::password::{Hasher, NewPassword};

/// Every synthetic employee signs in with this password.
pub const SYNTHETIC_PASSWORD: &str = "belong-synthetic-password";
/// The domain of every synthetic employee's email.
pub const EMAIL_DOMAIN: &str = "synthetic.example";
/// Every synthetic group's slug starts with this.
pub const SLUG_PREFIX: &str = "syn-";

/// The email of synthetic employee `n` (1-based).
pub fn email(n: u32) -> String {
    format!("synthetic-{n:06}@{EMAIL_DOMAIN}")
}

/// How big an organisation to make.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub employees: u32,
    pub groups: u32,
    pub memberships: u64,
}

impl Default for Size {
    fn default() -> Self {
        Self {
            employees: 50_000,
            groups: 100,
            memberships: 200_000,
        }
    }
}

impl Size {
    pub const MAX_EMPLOYEES: u32 = 10_000_000;
    pub const MAX_GROUPS: u32 = 10_000;
    pub const MAX_MEMBERSHIPS: u64 = 100_000_000;

    fn check(&self) -> anyhow::Result<()> {
        anyhow::ensure!(
            (1..=Self::MAX_EMPLOYEES).contains(&self.employees),
            "--employees must be 1 to {}",
            Self::MAX_EMPLOYEES
        );
        anyhow::ensure!(
            (1..=Self::MAX_GROUPS).contains(&self.groups),
            "--groups must be 1 to {}",
            Self::MAX_GROUPS
        );
        let room = u64::from(self.employees) * u64::from(self.groups);
        anyhow::ensure!(
            self.memberships <= room.min(Self::MAX_MEMBERSHIPS),
            "--memberships must be at most {} (each employee at most once in each group)",
            room.min(Self::MAX_MEMBERSHIPS)
        );
        Ok(())
    }
}

/// What `load` did.
#[derive(Debug)]
pub enum Outcome {
    Loaded {
        size: Size,
        elapsed: Duration,
    },
    /// The organisation was there already, with the same numbers of employees and groups.
    AlreadyLoaded {
        employees: i64,
        groups: i64,
        memberships: i64,
    },
}

struct Theme {
    stem: &'static str,
    name: &'static str,
    tagline: &'static str,
    mission: &'static str,
    sensitive: bool,
}

const THEMES: &[Theme] = &[
    Theme {
        stem: "women",
        name: "Women's Network",
        tagline: "Advancing women in every role and at every level",
        mission: "We champion women's leadership, close gaps in pay and promotion, and support colleagues through every stage of life.",
        sensitive: false,
    },
    Theme {
        stem: "black",
        name: "Black Employee Network",
        tagline: "Community, advancement and advocacy for Black colleagues",
        mission: "We support the growth and retention of Black colleagues through mentoring and development, and partner on health equity.",
        sensitive: false,
    },
    Theme {
        stem: "latinx",
        name: "Latinx Network",
        tagline: "Celebrating Latin American heritage and growing Latinx leaders",
        mission: "We celebrate the cultures of Latin America and help our services reach Spanish- and Portuguese-speaking communities.",
        sensitive: false,
    },
    Theme {
        stem: "api",
        name: "Asian & Pacific Islander Alliance",
        tagline: "Connection across the cultures of Asia and the Pacific Islands",
        mission: "We build community among Asian and Pacific Islander colleagues, grow leaders and make our voices heard.",
        sensitive: false,
    },
    Theme {
        stem: "pride",
        name: "Pride Network",
        tagline: "LGBTQIA+ colleagues and allies, out and proud at work",
        mission: "We build a workplace where LGBTQIA+ colleagues bring their whole selves, and advocate for inclusive patient care.",
        sensitive: true,
    },
    Theme {
        stem: "veterans",
        name: "Veterans Network",
        tagline: "Veterans, service members, military families and supporters",
        mission: "We help veterans translate military experience into civilian careers, and honour service.",
        sensitive: false,
    },
    Theme {
        stem: "abilities",
        name: "Abilities Network",
        tagline: "Colleagues with disabilities, caregivers and allies, working for access",
        mission: "We make the workplace accessible for people with visible and invisible disabilities and share advice on accommodations.",
        sensitive: true,
    },
    Theme {
        stem: "generations",
        name: "Generations Network",
        tagline: "Learning across every stage of a career",
        mission: "We connect colleagues of every age so that experience and fresh perspectives flow both ways.",
        sensitive: false,
    },
    Theme {
        stem: "native",
        name: "Native Peoples Network",
        tagline: "Honouring Indigenous cultures and supporting Indigenous colleagues",
        mission: "We create space for Native American, Native Hawaiian and Alaskan Native colleagues and honour Indigenous knowledge.",
        sensitive: false,
    },
    Theme {
        stem: "armenian",
        name: "Armenian Heritage Network",
        tagline: "Sharing Armenian culture, history and community at work",
        mission: "We celebrate Armenian traditions, remember our history and support one another's careers.",
        sensitive: false,
    },
    Theme {
        stem: "parents",
        name: "Parents & Caregivers Network",
        tagline: "Support for colleagues who care for children, parents or partners",
        mission: "We share practical advice on balancing care and work, and speak up for family-friendly policies.",
        sensitive: false,
    },
    Theme {
        stem: "interfaith",
        name: "Interfaith Network",
        tagline: "Colleagues of every faith and none, in conversation",
        mission: "We foster understanding between faiths and make room for observance at work.",
        sensitive: false,
    },
    Theme {
        stem: "early-careers",
        name: "Early Careers Network",
        tagline: "Finding your feet in your first years at work",
        mission: "We help colleagues in their first jobs build networks, skills and confidence.",
        sensitive: false,
    },
    Theme {
        stem: "neurodiversity",
        name: "Neurodiversity Network",
        tagline: "Autistic, ADHD, dyslexic and other neurodivergent colleagues and allies",
        mission: "We make our ways of working suit every kind of mind.",
        sensitive: true,
    },
    Theme {
        stem: "mental-health",
        name: "Mental Health Allies",
        tagline: "Talking openly about mental health at work",
        mission: "We reduce stigma, train peer supporters and point colleagues to help when they need it.",
        sensitive: true,
    },
    Theme {
        stem: "nurses-of-color",
        name: "Nurses of Color",
        tagline: "Nurses of color supporting one another's practice and careers",
        mission: "We mentor nurses of color into leadership and advocate for equitable care.",
        sensitive: false,
    },
    Theme {
        stem: "women-in-tech",
        name: "Women in Technology",
        tagline: "Women and allies in IT, data and engineering",
        mission: "We grow the number of women in technical roles and make those roles better for everyone.",
        sensitive: false,
    },
    Theme {
        stem: "first-gen",
        name: "First-Generation Professionals",
        tagline: "For the first in their family to go to college or into a profession",
        mission: "We share the unwritten rules of professional life and open doors for one another.",
        sensitive: false,
    },
    Theme {
        stem: "multilingual",
        name: "Multilingual Care Network",
        tagline: "Colleagues who care for patients in more than one language",
        mission: "We support interpreters and multilingual colleagues and help patients be understood.",
        sensitive: false,
    },
    Theme {
        stem: "military-families",
        name: "Military Families Network",
        tagline: "Partners and children of those who serve",
        mission: "We support colleagues through deployments, moves and homecomings.",
        sensitive: false,
    },
];

/// Departments of a health-care employer, with their weights.
const DEPARTMENTS: &[(&str, u32)] = &[
    ("Nursing", 30),
    ("Patient Services", 10),
    ("Physicians", 8),
    ("Information Technology", 7),
    ("Administration", 6),
    ("Pharmacy", 5),
    ("Emergency Medicine", 5),
    ("Facilities", 5),
    ("Finance", 5),
    ("Laboratory", 4),
    ("Radiology", 4),
    ("Research", 4),
    ("Behavioral Health", 4),
    ("Human Resources", 3),
];

const LOCATIONS: &[(&str, u32)] = &[
    ("Oakland", 20),
    ("Pasadena", 15),
    ("Portland", 12),
    ("San Diego", 10),
    ("Denver", 10),
    ("Atlanta", 10),
    ("Remote", 9),
    ("Seattle", 8),
    ("Honolulu", 6),
];

/// Names beyond the demo's (`seed::FIRST`, `seed::LAST`), for more distinct people.
const MORE_FIRST: &[&str] = &["Liam", "Maya", "Noah", "Olivia"];
const MORE_LAST: &[&str] = &["Smith", "Yazzie", "Novak", "O'Brien"];

/// Each entry repeated as often as its weight, so SQL can pick one with a uniform index.
fn weighted(entries: &[(&str, u32)]) -> Vec<String> {
    entries
        .iter()
        .flat_map(|(name, weight)| std::iter::repeat_n((*name).to_string(), *weight as usize))
        .collect()
}

/// One group of the plan.
#[derive(Debug, Clone, PartialEq, Eq)]
struct GroupPlan {
    /// 1-based.
    index: u32,
    slug: String,
    name: String,
    tagline: String,
    mission: String,
    approval: bool,
    /// How many memberships it gets.
    size: u64,
    /// Its members are employees `(first + k * stride) % employees + 1` for `k` in `0..size`.
    first: u64,
    stride: u64,
    /// The first `leads` members lead it.
    leads: u32,
    /// Share of its non-lead memberships that are private, in 1/1024.
    private_per_1024: u32,
}

fn splitmix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

/// Group sizes: Zipf with exponent 0.8 over the groups' indexes, summing to exactly
/// `memberships`, none above `employees`.
fn sizes(size: &Size) -> Vec<u64> {
    let n = size.groups as usize;
    let cap = u64::from(size.employees);
    let weights: Vec<f64> = (1..=n).map(|g| (g as f64).powf(-0.8)).collect();
    let mut sizes = vec![0u64; n];
    let mut fixed = vec![false; n];
    let mut left = size.memberships;
    // Share out what is left among the groups that are not full, until it is all placed.
    while left > 0 {
        let open: Vec<usize> = (0..n).filter(|&i| !fixed[i]).collect();
        if open.is_empty() {
            break;
        }
        let total: f64 = open.iter().map(|&i| weights[i]).sum();
        let mut placed = 0u64;
        let mut fractions = Vec::with_capacity(open.len());
        for &i in &open {
            let exact = left as f64 * weights[i] / total;
            let whole = exact.floor() as u64;
            let take = whole.min(cap - sizes[i]);
            sizes[i] += take;
            placed += take;
            fractions.push((exact - whole as f64, i));
        }
        // Largest remainders first, one each, while there is room.
        fractions.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        let mut rest = left - placed;
        for &(_, i) in &fractions {
            if rest == 0 {
                break;
            }
            if sizes[i] < cap {
                sizes[i] += 1;
                rest -= 1;
            }
        }
        for &i in &open {
            if sizes[i] >= cap {
                fixed[i] = true;
            }
        }
        if rest == left {
            break; // nothing could be placed: every group is full
        }
        left = rest;
    }
    sizes
}

fn plan(size: &Size) -> Vec<GroupPlan> {
    let employees = u64::from(size.employees);
    sizes(size)
        .into_iter()
        .enumerate()
        .map(|(i, group_size)| {
            let index = i as u32 + 1;
            let theme = &THEMES[i % THEMES.len()];
            let chapter = i / THEMES.len();
            let (name, tagline) = if size.groups as usize <= THEMES.len() {
                (theme.name.to_string(), theme.tagline.to_string())
            } else {
                let place = LOCATIONS[chapter % LOCATIONS.len()].0;
                let round = chapter / LOCATIONS.len();
                let name = if round == 0 {
                    format!("{}, {place} chapter", theme.name)
                } else {
                    format!("{}, {place} chapter {}", theme.name, round + 1)
                };
                (name, format!("{} ({place})", theme.tagline))
            };
            let first = splitmix(u64::from(index)) % employees;
            let mut stride = splitmix(u64::from(index) + 0x5eed) % employees;
            while employees > 1 && (stride == 0 || gcd(stride, employees) != 1) {
                stride = (stride + 1) % employees;
            }
            if employees == 1 {
                stride = 1;
            }
            GroupPlan {
                index,
                slug: format!("{SLUG_PREFIX}{index:03}-{}", theme.stem),
                name,
                tagline,
                mission: theme.mission.to_string(),
                approval: theme.sensitive,
                size: group_size,
                first,
                stride,
                leads: (1 + index % 3).min(u32::try_from(group_size).unwrap_or(u32::MAX)),
                private_per_1024: if theme.sensitive { 310 } else { 82 },
            }
        })
        .collect()
}

/// Loads the synthetic organisation, or finds it there already (see the module's doc).
pub async fn load(pool: &PgPool, hasher: &Hasher, size: Size) -> anyhow::Result<Outcome> {
    size.check()?;
    let started = Instant::now();
    let email_pattern = format!("%@{EMAIL_DOMAIN}");
    let slug_pattern = format!("{SLUG_PREFIX}%");
    let mut tx = pool.begin().await?;
    let locked = sqlx::query_scalar!(
        r#"SELECT pg_try_advisory_xact_lock(hashtext($1)) AS "locked!""#,
        "belong seed --synthetic"
    )
    .fetch_one(&mut *tx)
    .await?;
    anyhow::ensure!(
        locked,
        "another `belong seed --synthetic` is loading this database; let it finish"
    );
    let present = sqlx::query!(
        r#"SELECT (SELECT count(*) FROM users WHERE email LIKE $1) AS "employees!",
                  (SELECT count(*) FROM groups WHERE slug LIKE $2) AS "groups!",
                  (SELECT count(*) FROM memberships m JOIN groups g ON g.id = m.group_id
                   WHERE g.slug LIKE $2) AS "memberships!""#,
        email_pattern,
        slug_pattern
    )
    .fetch_one(&mut *tx)
    .await?;
    if present.employees > 0 || present.groups > 0 {
        anyhow::ensure!(
            present.employees == i64::from(size.employees)
                && present.groups == i64::from(size.groups),
            "this database already holds a synthetic organisation of {} employees and {} groups \
             ({} memberships); `belong seed --synthetic` will not add another or resize it: \
             load it into a fresh database",
            present.employees,
            present.groups,
            present.memberships
        );
        return Ok(Outcome::AlreadyLoaded {
            employees: present.employees,
            groups: present.groups,
            memberships: present.memberships,
        });
    }

    let password = NewPassword::parse(SecretString::from(SYNTHETIC_PASSWORD))
        .map_err(|e| anyhow::anyhow!("the synthetic password {e}"))?;
    let hash = hasher.hash(&password).await?;
    let departments = weighted(DEPARTMENTS);
    let locations = weighted(LOCATIONS);
    let first_names: Vec<String> = super::FIRST
        .iter()
        .chain(MORE_FIRST)
        .map(|s| s.to_string())
        .collect();
    let last_names: Vec<String> = super::LAST
        .iter()
        .chain(MORE_LAST)
        .map(|s| s.to_string())
        .collect();
    let employees = i32::try_from(size.employees).context("--employees")?;

    // Employees. `h` gives each attribute its own bits of one hash of the employee's number.
    sqlx::query!(
        r#"INSERT INTO users (id, email, password_hash, display_name, department, location, created_at)
           SELECT md5('belong-synthetic-user:' || n)::uuid,
                  'synthetic-' || lpad(n::text, greatest(6, length(n::text)), '0') || '@' || $2,
                  $3,
                  ($4::text[])[1 + ((h & 1023) % cardinality($4::text[]))::int] || ' '
                      || ($5::text[])[1 + (((h >> 10) & 1023) % cardinality($5::text[]))::int],
                  CASE WHEN (h >> 20) & 127 = 0 THEN NULL
                       ELSE ($6::text[])[1 + (((h >> 27) & 1023) % cardinality($6::text[]))::int] END,
                  CASE WHEN (h >> 37) & 127 = 0 THEN NULL
                       ELSE ($7::text[])[1 + (((h >> 44) & 1023) % cardinality($7::text[]))::int] END,
                  now() - make_interval(days => 1100 + ((h >> 54) & 1023)::int)
           FROM (SELECT n, hashint8extended(n, 1) AS h FROM generate_series(1::bigint, $1::bigint) AS n) AS e"#,
        i64::from(employees),
        EMAIL_DOMAIN,
        hash,
        &first_names,
        &last_names,
        &departments,
        &locations
    )
    .execute(&mut *tx)
    .await
    .context("inserting the synthetic employees")?;

    let groups = plan(&size);
    let mut index = Vec::new();
    let mut slug = Vec::new();
    let mut name = Vec::new();
    let mut tagline = Vec::new();
    let mut mission = Vec::new();
    let mut policy = Vec::new();
    let mut group_size = Vec::new();
    let mut first = Vec::new();
    let mut stride = Vec::new();
    let mut leads = Vec::new();
    let mut private_cut = Vec::new();
    let mut approval = Vec::new();
    for g in &groups {
        index.push(i32::try_from(g.index).context("group index")?);
        slug.push(g.slug.clone());
        name.push(g.name.clone());
        tagline.push(g.tagline.clone());
        mission.push(g.mission.clone());
        policy.push(if g.approval { "approval" } else { "open" }.to_string());
        group_size.push(i64::try_from(g.size).context("group size")?);
        first.push(i64::try_from(g.first).context("group walk")?);
        stride.push(i64::try_from(g.stride).context("group walk")?);
        leads.push(i32::try_from(g.leads).context("group leads")?);
        private_cut.push(i32::try_from(g.private_per_1024).context("group privacy")?);
        approval.push(g.approval);
    }
    sqlx::query!(
        r#"INSERT INTO groups (id, slug, name, tagline, mission, description, join_policy, created_at, updated_at)
           SELECT md5('belong-synthetic-group:' || g)::uuid, slug, name, tagline, mission, $7,
                  policy::join_policy, now() - interval '5 years', now() - interval '5 years'
           FROM unnest($1::int4[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[])
                AS t(g, slug, name, tagline, mission, policy)"#,
        &index,
        &slug,
        &name,
        &tagline,
        &mission,
        &policy,
        "A synthetic group for benchmarks, made by `belong seed --synthetic`."
    )
    .execute(&mut *tx)
    .await
    .context("inserting the synthetic groups")?;

    // Memberships and their history in one statement. Per membership, one hash of
    // (employee, group) gives the type, visibility, status and date independent bits.
    let inserted = sqlx::query!(
        r#"WITH walk AS (
               SELECT p.g, k < p.leads AS lead, p.private_cut, p.approval,
                      (p.first + k * p.stride) % $8::bigint + 1 AS n
               FROM unnest($1::int4[], $2::int8[], $3::int8[], $4::int8[], $5::int4[], $6::int4[], $7::bool[])
                    AS p(g, size, first, stride, leads, private_cut, approval),
                    generate_series(0::bigint, p.size - 1) AS k
           ), picked AS (
               SELECT w.*, hashint8extended(w.n, w.g) AS h FROM walk w
           ), new AS (
               INSERT INTO memberships (group_id, user_id, type, role, status, visibility, joined_at)
               SELECT md5('belong-synthetic-group:' || g)::uuid,
                      md5('belong-synthetic-user:' || n)::uuid,
                      CASE WHEN NOT lead AND (h & 1023) < 205 THEN 'ally' ELSE 'member' END::membership_type,
                      CASE WHEN lead THEN 'lead' ELSE 'member' END::membership_role,
                      CASE WHEN approval AND NOT lead AND ((h >> 20) & 1023) < 31 THEN 'pending'
                           ELSE 'active' END::membership_status,
                      CASE WHEN lead THEN 'public'
                           WHEN ((h >> 10) & 1023) < private_cut THEN 'private'
                           WHEN ((h >> 10) & 1023) < private_cut + 256 THEN 'public'
                           ELSE 'members' END::visibility,
                      now() - make_interval(days => 5 + ((h >> 30) & 1023)::int,
                                            secs => ((h >> 40) & 65535)::double precision)
               FROM picked
               RETURNING group_id, user_id, type, role, status, visibility, joined_at
           )
           INSERT INTO membership_history (at, group_id, user_id, actor_id, event, type, role, status, visibility, reason)
           SELECT joined_at, group_id, user_id, user_id,
                  CASE WHEN status = 'pending' THEN 'requested' ELSE 'joined' END::membership_event,
                  type, role, status, visibility, $9
           FROM new"#,
        &index,
        &group_size,
        &first,
        &stride,
        &leads,
        &private_cut,
        &approval,
        i64::from(employees),
        "synthetic data"
    )
    .execute(&mut *tx)
    .await
    .context("inserting the synthetic memberships")?
    .rows_affected();
    anyhow::ensure!(
        inserted == size.memberships,
        "the plan made {inserted} memberships instead of {}",
        size.memberships
    );
    tx.commit().await?;
    // Fresh statistics (and visibility maps), so that the first queries get good plans.
    sqlx::raw_sql("VACUUM (ANALYZE) users, groups, memberships, membership_history")
        .execute(pool)
        .await
        .context("analysing the new tables")?;
    Ok(Outcome::Loaded {
        size,
        elapsed: started.elapsed(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn sizes_are_skewed_and_add_up() {
        let size = Size::default();
        let s = sizes(&size);
        assert_eq!(s.len(), 100);
        assert_eq!(s.iter().sum::<u64>(), 200_000);
        assert!(s[0] > 20_000 && s[0] <= 50_000, "{}", s[0]);
        assert!(s[99] > 300 && s[99] < 1_000, "{}", s[99]);
        assert!(s.windows(2).all(|w| w[0] >= w[1]));
    }

    #[test]
    fn no_group_is_bigger_than_the_organisation() {
        let size = Size {
            employees: 1_000,
            groups: 10,
            memberships: 9_500,
        };
        let s = sizes(&size);
        assert_eq!(s.iter().sum::<u64>(), 9_500);
        assert!(s.iter().all(|&n| n <= 1_000), "{s:?}");
        let full = Size {
            employees: 7,
            groups: 3,
            memberships: 21,
        };
        assert_eq!(sizes(&full), vec![7, 7, 7]);
    }

    #[test]
    fn a_group_never_holds_anyone_twice() {
        for size in [
            Size {
                employees: 1_000,
                groups: 30,
                memberships: 12_000,
            },
            Size {
                employees: 1,
                groups: 2,
                memberships: 2,
            },
            Size {
                employees: 360,
                groups: 5,
                memberships: 1_800,
            },
        ] {
            let e = u64::from(size.employees);
            let mut pairs = HashSet::new();
            for g in plan(&size) {
                let members: HashSet<u64> =
                    (0..g.size).map(|k| (g.first + k * g.stride) % e).collect();
                assert_eq!(members.len() as u64, g.size, "{}", g.slug);
                assert!(g.leads as u64 <= g.size);
                for m in members {
                    assert!(pairs.insert((g.index, m)));
                }
            }
            assert_eq!(pairs.len() as u64, size.memberships);
        }
    }

    #[test]
    fn slugs_names_and_emails_are_valid() {
        let groups = plan(&Size::default());
        let slugs: HashSet<&str> = groups.iter().map(|g| g.slug.as_str()).collect();
        assert_eq!(slugs.len(), groups.len());
        for g in &groups {
            assert!(crate::groups::Slug::parse(&g.slug).is_ok(), "{}", g.slug);
            assert!(g.name.chars().count() <= 100 && g.tagline.chars().count() <= 200);
        }
        assert_eq!(groups[0].slug, "syn-001-women");
        assert_eq!(groups[20].name, "Women's Network, Pasadena chapter");
        assert_eq!(email(123), "synthetic-000123@synthetic.example");
        assert_eq!(email(1_234_567), "synthetic-1234567@synthetic.example");
        let approval = groups.iter().filter(|g| g.approval).count();
        assert_eq!(approval, 20);
    }

    #[test]
    fn impossible_sizes_are_refused() {
        let too_many = Size {
            employees: 10,
            groups: 2,
            memberships: 21,
        };
        assert!(too_many.check().is_err());
        assert!(
            Size {
                employees: 0,
                ..Size::default()
            }
            .check()
            .is_err()
        );
        assert!(Size::default().check().is_ok());
    }
}
