//! The group's mentoring: offers with their requests (accept, decline), a new offer, closing
//! one through a confirmation page.

use askama::Template;
use axum::extract::{Path, State};
use serde::Deserialize;
use uuid::Uuid;

use crate::error::AppError;
use crate::groups::directory::GroupRef;
use crate::mentoring::{self, OfferFields, OfferRef, RequestStatus};
use crate::paging::PageRequest;
use crate::state::AppState;
use crate::web::form::{Field, Post};
use crate::web::pages::manage::{manage_path, managed};
use crate::web::pages::shared::{ConfirmPage, FormPage, ManageNav, Nothing, done};
use crate::web::session::Signed;
use crate::web::{Chrome, Errors, PageError, PageResult, Section, ok};
use crate::whole::Whole;

pub struct RequestLine {
    id: Uuid,
    name: String,
    message: String,
    status: &'static str,
    /// Pending, and the viewer may accept or decline it.
    decidable: bool,
}

pub struct OfferLine {
    id: Uuid,
    title: String,
    mentor: String,
    places: String,
    requests: Vec<RequestLine>,
}

#[derive(Template)]
#[template(path = "manage_mentoring.html")]
pub struct MentoringPage {
    chrome: Chrome,
    manage: ManageNav,
    offers: Vec<OfferLine>,
}

fn status_words(status: RequestStatus) -> &'static str {
    match status {
        RequestStatus::Pending => "waiting for an answer",
        RequestStatus::Accepted => "accepted",
        RequestStatus::Declined => "declined",
        RequestStatus::Withdrawn => "withdrawn",
    }
}

pub async fn list(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    let list = mentoring::list_offers(&state.pool, &group, &PageRequest::first(100)).await?;
    let mut offers = Vec::new();
    for offer in list.items {
        let offer_ref =
            mentoring::resolve_offer(&state.pool, &signed.user, &offer.id.to_string()).await?;
        let requests =
            mentoring::list_requests(&state.pool, &offer_ref, &PageRequest::first(100)).await?;
        offers.push(OfferLine {
            id: offer.id,
            places: format!("{} of {} places taken", offer.slots_taken, offer.slots),
            mentor: offer.mentor.display_name,
            title: offer.title,
            requests: requests
                .items
                .into_iter()
                .map(|r| RequestLine {
                    id: r.id,
                    name: r.mentee.display_name,
                    message: r.message,
                    decidable: r.status == RequestStatus::Pending
                        && offer_ref.access.can_decide(r.mentee.id),
                    status: status_words(r.status),
                })
                .collect(),
        });
    }
    Ok(ok(&MentoringPage {
        chrome: Chrome::signed(&mut signed, format!("Mentoring in {name}"), Section::None),
        manage: ManageNav::new(&group.slug, &name, "mentoring"),
        offers,
    }))
}

#[derive(Deserialize, Default)]
#[serde(default)]
pub struct OfferForm {
    title: String,
    description: String,
    topics: String,
    slots: String,
}

impl OfferForm {
    fn form_fields(&self) -> Vec<Field> {
        vec![
            Field::new("title", "Title", "text", self.title.clone()),
            Field::new(
                "description",
                "What you offer (optional)",
                "textarea",
                self.description.clone(),
            ),
            Field::new("topics", "Topics (optional)", "text", self.topics.clone())
                .hint("Separate topics with commas."),
            Field::new("slots", "Number of mentees", "number", self.slots.clone()),
        ]
    }

    fn topics(&self) -> Vec<String> {
        self.topics
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect()
    }
}

fn offer_form(
    signed: &mut Signed,
    group: &GroupRef,
    name: &str,
    form: &OfferForm,
    errors: Errors,
) -> PageResult {
    FormPage::new(signed, Section::None, "Post a mentoring offer")
        .within(ManageNav::new(&group.slug, name, "mentoring"))
        .intro("You will be the mentor. Members and allies of the group can ask for it; you and the group's leads will see their names and messages.")
        .button(manage_path(group, "/mentoring/new"), "Post the offer")
        .back(manage_path(group, "/mentoring"))
        .fields(form.form_fields())
        .errors(errors)
        .answer()
}

pub async fn new_offer_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path(slug): Path<String>,
) -> PageResult {
    let (group, name) = managed(&state, &signed, &slug).await?;
    offer_form(
        &mut signed,
        &group,
        &name,
        &OfferForm::default(),
        Errors::none(),
    )
}

pub async fn new_offer(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    post: Post<OfferForm>,
) -> PageResult {
    let Post { mut signed, form } = post;
    let (group, name) = managed(&state, &signed, &slug).await?;
    let Ok(slots) = form.slots.trim().parse::<i64>() else {
        let mut errors = Errors::none();
        errors.push("slots", "Enter the number of mentees as a whole number");
        return offer_form(&mut signed, &group, &name, &form, errors);
    };
    let fields = OfferFields {
        title: Some(form.title.clone()),
        description: Some(form.description.clone()),
        topics: Some(form.topics()),
        slots: Some(Whole(slots)),
        mentor_id: None,
    };
    match mentoring::create_offer(&state.pool, &group, fields).await {
        Ok(_) => {
            let message = format!("You posted {}.", form.title.trim());
            done(
                &state,
                &signed,
                &message,
                &manage_path(&group, "/mentoring"),
            )
            .await
        }
        Err(error) => {
            let errors = Errors::from_app(error)?;
            offer_form(&mut signed, &group, &name, &form, errors)
        }
    }
}

/// An offer of this group that the caller manages, with its title.
async fn managed_offer(
    state: &AppState,
    signed: &Signed,
    slug: &str,
    id: &str,
) -> Result<(GroupRef, OfferRef, String), PageError> {
    let (group, _) = managed(state, signed, slug).await?;
    let offer_ref = mentoring::resolve_offer(&state.pool, &signed.user, id).await?;
    let offer = mentoring::offer(&state.pool, offer_ref.id).await?;
    if offer.group_slug != group.slug || !offer_ref.access.can_manage() {
        return Err(AppError::NotFound.into());
    }
    Ok((group, offer_ref, offer.title))
}

pub async fn close_offer_page(
    State(state): State<AppState>,
    mut signed: Signed,
    Path((slug, id)): Path<(String, String)>,
) -> PageResult {
    let (group, offer, title) = managed_offer(&state, &signed, &slug, &id).await?;
    ConfirmPage::new(&mut signed, Section::None, format!("Close {title}?"))
        .consequence("The offer leaves the group's page, and no one can ask for it any more.")
        .consequence("Requests already accepted stay as they are.")
        .button(
            manage_path(&group, &format!("/mentoring/{}/close", offer.id)),
            format!("Close {title}"),
        )
        .back(manage_path(&group, "/mentoring"), "Keep the offer open")
        .answer()
}

pub async fn close_offer(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    let (group, offer, title) = managed_offer(&state, &post.signed, &slug, &id).await?;
    mentoring::close_offer(&state.pool, &offer).await?;
    let message = format!("You closed {title}.");
    done(
        &state,
        &post.signed,
        &message,
        &manage_path(&group, "/mentoring"),
    )
    .await
}

async fn decide(
    state: &AppState,
    slug: &str,
    id: &str,
    signed: &Signed,
    to: RequestStatus,
) -> PageResult {
    let (group, _) = managed(state, signed, slug).await?;
    let request = mentoring::decide(&state.pool, &signed.user, id, to).await?;
    if request.group_slug != group.slug {
        return Err(AppError::NotFound.into());
    }
    let message = format!(
        "You {} {}'s request for {}.",
        status_words(to),
        request.mentee.display_name,
        request.offer_title
    );
    done(state, signed, &message, &manage_path(&group, "/mentoring")).await
}

pub async fn accept_request(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    decide(&state, &slug, &id, &post.signed, RequestStatus::Accepted).await
}

pub async fn decline_request(
    State(state): State<AppState>,
    Path((slug, id)): Path<(String, String)>,
    post: Post<Nothing>,
) -> PageResult {
    decide(&state, &slug, &id, &post.signed, RequestStatus::Declined).await
}
