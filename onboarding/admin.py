"""The onboarding checklist in the admin: a list with progress, and a change page with one action
per step.

Each action is a custom admin view (get_urls + admin_site.admin_view): POST only, the object
loaded through get_object and re-checked with has_change_permission, one call to
onboarding.services, then log_change, a message and a redirect to the change page. Provider calls
happen in the services outside any transaction (these views are not atomic). Permissions come
from channels_app.access.is_admin through channels_app.admin_site.AdminOnlyPermissions
(Cap.CONFIGURE is admin-only). See docs/onboarding.md.
"""

from __future__ import annotations

from datetime import datetime, time

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.urls import NoReverseMatch, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST

from channels_app.admin_site import AdminOnlyPermissions
from onboarding import queries, services, steps
from onboarding.models import Onboarding, OnboardingStep
from onboarding.validation import display_name_problems, parse_phone_number


# --- forms ---------------------------------------------------------------------------------------
class OnboardingForm(forms.ModelForm):
    # Wider than the stored E.164 so that "+49 30 1234 5678" can be typed as written.
    phone_number = forms.CharField(
        label=_("Phone number"),
        max_length=32,
        help_text=_("International format, e.g. +49 30 1234567; stored as E.164."),
    )
    access_token = forms.CharField(
        label=_("Access token"),
        required=False,
        strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "off"}),
        help_text=_(
            "The operator's system-user token for the API steps until the channel exists. "
            "Write-only: leave empty to keep the stored one."
        ),
    )

    class Meta:
        model = Onboarding
        fields = ("phone_number", "code_method", "business_manager_id", "display_name")

    def clean(self):
        data = super().clean()
        instance = self.instance
        values = {
            field: data.get(field, getattr(instance, field))
            for field in ("phone_number", "business_manager_id", "display_name", "code_method")
        }
        if any(field in self.errors for field in values):
            return data
        try:
            cleaned = services.clean_details(**values)
        except ValidationError as error:
            self.add_error(None, error)
            return data
        for field in ("phone_number", "code_method"):
            if field in self.fields and field in data:
                data[field] = cleaned[field]
        return data


class NoteForm(forms.Form):
    key = forms.ChoiceField(choices=[(k, k) for k in steps.KEYS])
    note = forms.CharField(required=False, max_length=1000)


class BlockForm(forms.Form):
    key = forms.ChoiceField(choices=[(k, k) for k in steps.KEYS])
    reason = forms.CharField(max_length=1000)


class TermsForm(forms.Form):
    agreement_signed_by = forms.CharField(label=_("agreement signed by"), max_length=200)
    terms_accepted_by = forms.CharField(label=_("terms accepted by"), max_length=200)
    signed_on = forms.DateField(label=_("signed on"), required=False)


class AddNumberForm(forms.Form):
    waba_id = forms.RegexField(
        label=_("WhatsApp Business account ID"),
        regex=r"^\d{5,30}$",
        error_messages={"invalid": _("The WhatsApp Business account ID has digits only.")},
    )
    access_token = forms.CharField(
        label=_("access token"), required=False, widget=forms.PasswordInput
    )


class RequestCodeForm(forms.Form):
    method = forms.ChoiceField(label=_("send the code by"), choices=Onboarding.CodeMethod.choices)


class VerifyCodeForm(forms.Form):
    code = forms.RegexField(
        label=_("6-digit code"),
        regex=r"^\d{6}$",
        error_messages={"invalid": _("The code has 6 digits.")},
    )


class RegisterForm(forms.Form):
    pin = forms.RegexField(
        label=_("two-step verification PIN"),
        regex=r"^\d{6}$",
        widget=forms.PasswordInput,
        error_messages={"invalid": _("The two-step verification PIN has 6 digits.")},
    )


class ProfileForm(forms.Form):
    about = forms.CharField(label=_("about"), max_length=139)
    description = forms.CharField(label=_("description"), max_length=512, required=False)
    email = forms.EmailField(label=_("e-mail"), max_length=128, required=False)
    address = forms.CharField(label=_("address"), max_length=256, required=False)
    website_1 = forms.URLField(
        label=_("website"), max_length=256, required=False, assume_scheme="https"
    )
    website_2 = forms.URLField(
        label=_("second website"), max_length=256, required=False, assume_scheme="https"
    )
    vertical = forms.ChoiceField(
        label=_("industry"),
        choices=[("", "—"), *((v, v) for v in services.VERTICALS)],
        required=False,
    )
    logo = forms.FileField(label=_("logo (JPEG or PNG, at most 5 MB)"))

    def clean_logo(self):
        logo = self.cleaned_data["logo"]
        # Refused before the upload is read into memory.
        if logo.size > services.MAX_LOGO_BYTES:
            raise ValidationError(_("The logo is larger than 5 MB."))
        return logo


class BadgeForm(forms.Form):
    website_url = forms.URLField(label=_("business website"), assume_scheme="https")
    country = forms.CharField(label=_("country of operation (e.g. DE)"), max_length=2)
    language = forms.CharField(label=_("primary language"), max_length=50)


def _template_admin_url(channel_id: int | None) -> str:
    # The template admin belongs to channels_app and may not be registered on every site.
    try:
        url = reverse("admin:channels_app_messagetemplate_changelist")
    except NoReverseMatch:
        return ""
    return url + (f"?channel__id__exact={channel_id}" if channel_id else "")


class StatusFilter(admin.SimpleListFilter):
    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [
            ("open", _("Open")),
            ("complete", _("Complete")),
            ("overdue", _("With overdue steps")),
            ("blocked", _("With blocked steps")),
        ]

    def queryset(self, request, queryset):
        value = self.value()
        if value == "open":
            return queryset.filter(completed_at__isnull=True)
        if value == "complete":
            return queryset.filter(completed_at__isnull=False)
        if value in ("overdue", "blocked"):
            # is_overdue is the flag kept by tasks.check_overdue (hourly).
            match = {"is_overdue": True} if value == "overdue" else {"state": "blocked"}
            steps_matching = OnboardingStep.objects.filter(**match).values("onboarding_id")
            return queryset.filter(pk__in=steps_matching)
        return queryset


# --- the admin -----------------------------------------------------------------------------------
@admin.register(Onboarding)
class OnboardingAdmin(AdminOnlyPermissions, admin.ModelAdmin):
    form = OnboardingForm
    change_form_template = "admin/onboarding/onboarding/change_form.html"
    list_display = (
        "display_name",
        "phone_number",
        "progress",
        "current_step",
        "next_actor",
        "days_open",
        "overdue",
        "channel",
    )
    list_display_links = ("display_name",)
    search_fields = ("display_name", "phone_number", "business_manager_id", "phone_number_id")
    list_filter = (StatusFilter,)
    readonly_fields = (
        "number_type",
        "agreement_signed_by",
        "agreement_signed_at",
        "terms_accepted_by",
        "terms_accepted_at",
        "waba_id",
        "phone_number_id",
        "channel",
        "created_by",
        "created_at",
        "completed_at",
    )

    # Every action below is one custom view; the name part is also the URL segment.
    step_actions = (
        "advance_step",
        "mark_waiting",
        "block_step",
        "record_terms",
        "add_number",
        "request_code",
        "verify_code",
        "register",
        "set_profile",
        "request_badge",
        "refresh_badge",
        "submit_templates",
        "refresh_templates",
    )

    # --- list ------------------------------------------------------------------------------
    def get_queryset(self, request):
        return queries.onboardings_with_progress()

    def _status(self, obj) -> queries.Status:
        # Computed once per row from the prefetched steps, for all the columns below.
        if not hasattr(obj, "_desk_status"):
            obj._desk_status = queries.status_of(obj, now=timezone.now())
        return obj._desk_status

    @admin.display(description=_("progress"), ordering="done_count")
    def progress(self, obj):
        status = self._status(obj)
        return format_html(
            '<progress value="{}" max="{}" title="{}/{}"></progress> {}/{}',
            status.done,
            status.total,
            status.done,
            status.total,
            status.done,
            status.total,
        )

    @admin.display(description=_("current step"))
    def current_step(self, obj):
        step = self._status(obj).current
        if step is None:
            return gettext("Complete")
        label = f"{step.order}. {step.definition.title}"
        if step.state == OnboardingStep.State.BLOCKED:
            return format_html(
                "{} <strong>({}: {})</strong>", label, gettext("blocked"), step.blocked_reason
            )
        return f"{label} ({step.get_state_display()})"

    @admin.display(description=_("who acts next"))
    def next_actor(self, obj):
        actor = self._status(obj).next_actor
        return actor.label if actor else "—"

    @admin.display(description=_("days open"))
    def days_open(self, obj):
        return self._status(obj).days_open

    @admin.display(description=_("overdue"))
    def overdue(self, obj):
        status = self._status(obj)
        flags = [
            format_html('<span title="{}">⚠ {}</span>', s.definition.title, s.order)
            for s in status.overdue
        ]
        if status.overdue_overall:
            flags.append(format_html("⚠ {}", gettext("over 10 business days")))
        if not flags:
            return "—"
        return format_html_join(" ", "{}", ((flag,) for flag in flags))

    # --- change page -----------------------------------------------------------------------
    def get_readonly_fields(self, request, obj=None):
        fields = list(self.readonly_fields)
        if obj is not None and obj.steps.filter(key="account_created", state="done").exists():
            # Registered at Meta: the number and its name can only change there.
            fields = ["phone_number", "display_name", *fields]
        return fields

    def get_fieldsets(self, request, obj=None):
        details = ("phone_number", "code_method", "business_manager_id", "display_name")
        if obj is None:
            return [(None, {"fields": (*details, "access_token")})]
        return [
            (_("Submitted details"), {"fields": (*details, "number_type")}),
            (
                _("Agreement and terms"),
                {
                    "fields": (
                        "agreement_signed_by",
                        "agreement_signed_at",
                        "terms_accepted_by",
                        "terms_accepted_at",
                    )
                },
            ),
            (
                _("WhatsApp account"),
                {
                    "fields": ("waba_id", "phone_number_id", "access_token", "channel"),
                    "description": _(
                        "The access token is used for the API steps until the channel exists; "
                        "then it moves to the channel."
                    ),
                },
            ),
            (_("History"), {"fields": ("created_by", "created_at", "completed_at")}),
        ]

    def save_model(self, request, obj, form, change):
        data = form.cleaned_data
        token = data.get("access_token") or None
        values = {
            field: data.get(field, getattr(obj, field))
            for field in ("phone_number", "business_manager_id", "display_name", "code_method")
        }
        if change:
            saved = services.update_details(obj, **values, access_token=token, actor=request.user)
        else:
            saved = services.create_onboarding(
                **values, access_token=token or "", actor=request.user
            )
        # The admin goes on with ``obj`` (log entry, redirect): give it the saved row's values.
        for field in Onboarding._meta.concrete_fields:
            setattr(obj, field.attname, getattr(saved, field.attname))
        obj._state.adding = False

    def change_view(self, request, object_id, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id))
        extra = {}
        if obj is not None:
            extra = self._checklist_context(obj)
        return super().change_view(
            request, object_id, form_url, extra_context={**extra, **(extra_context or {})}
        )

    def _checklist_context(self, obj: Onboarding) -> dict:
        now = timezone.now()
        by_key = {s.key: s for s in obj.steps.order_by("order")}
        rows = []
        for key, step in by_key.items():
            missing = services.missing_prerequisites(key, by_key)
            rows.append(
                {
                    "step": step,
                    "definition": step.definition,
                    "actor": step.next_actor().label,
                    "missing": missing,
                    "actionable": not step.is_done and not missing,
                    "overdue": step.is_overdue_at(now),
                    "due_at": step.due_at(),
                }
            )
        done = sum(s.is_done for s in by_key.values())
        latest_code = obj.code_requests.order_by("-requested_at", "-id").first()
        methods = parse_phone_number(obj.phone_number).code_methods
        errors, warnings = display_name_problems(obj.display_name)
        templates = {}
        if obj.channel_id:
            for status in obj.channel.templates.values_list("status", flat=True):
                templates[status] = templates.get(status, 0) + 1
        return {
            "checklist": rows,
            "checklist_done": done,
            "checklist_total": steps.COUNT,
            "latest_code": latest_code,
            "code_expired": latest_code.is_expired(now) if latest_code else False,
            "code_methods": [(m, Onboarding.CodeMethod(m).label) for m in methods],
            "display_name_warnings": warnings + errors,
            "template_counts": sorted(templates.items()),
            "template_admin_url": _template_admin_url(obj.channel_id),
            "verticals": services.VERTICALS,
            "has_token": bool(obj.access_token)
            or bool(obj.channel_id and obj.channel.access_token),
        }

    # --- custom per-object views -----------------------------------------------------------
    def get_urls(self):
        custom = [
            path(
                f"<path:object_id>/onboarding/{action}/",
                self.admin_site.admin_view(require_POST(self._action_view(action))),
                name=f"onboarding_onboarding_{action}",
            )
            for action in self.step_actions
        ]
        return custom + super().get_urls()

    def _action_view(self, action: str):
        handler = getattr(self, f"_do_{action}")

        def view(request, object_id):
            obj = self.get_object(request, unquote(object_id))
            if obj is None:
                raise Http404(_("No such onboarding."))
            if not self.has_change_permission(request, obj):
                raise PermissionDenied
            try:
                message = handler(request, obj)
            except ValidationError as error:
                self.message_user(request, " ".join(error.messages), messages.ERROR)
            except services.OnboardingError as error:
                self.message_user(request, error.message, messages.ERROR)
            else:
                self.log_change(request, obj, str(message))
                self.message_user(request, message, messages.SUCCESS)
            return HttpResponseRedirect(
                reverse("admin:onboarding_onboarding_change", args=[obj.pk])
            )

        view.__name__ = f"onboarding_{action}"
        return view

    @staticmethod
    def _form(form_class, request):
        form = form_class(request.POST, request.FILES)
        if not form.is_valid():
            raise ValidationError([e for errors in form.errors.values() for e in errors])
        return form.cleaned_data

    @staticmethod
    def _title(key: str) -> str:
        step = steps.get(key)
        return f"{step.order}. {step.title}"

    def _do_advance_step(self, request, obj):
        data = self._form(NoteForm, request)
        services.advance_step(obj, key=data["key"], note=data["note"], actor=request.user)
        return gettext("Step done: %(step)s") % {"step": self._title(data["key"])}

    def _do_mark_waiting(self, request, obj):
        data = self._form(NoteForm, request)
        services.mark_waiting(obj, key=data["key"], note=data["note"], actor=request.user)
        return gettext("Step waiting: %(step)s") % {"step": self._title(data["key"])}

    def _do_block_step(self, request, obj):
        data = self._form(BlockForm, request)
        services.block_step(obj, key=data["key"], reason=data["reason"], actor=request.user)
        return gettext("Step blocked: %(step)s") % {"step": self._title(data["key"])}

    def _do_record_terms(self, request, obj):
        data = self._form(TermsForm, request)
        signed_at = None
        if data["signed_on"]:
            signed_at = datetime.combine(
                data["signed_on"], time.min, tzinfo=timezone.get_current_timezone()
            )
        services.record_terms(
            obj,
            agreement_signed_by=data["agreement_signed_by"],
            terms_accepted_by=data["terms_accepted_by"],
            signed_at=signed_at,
            actor=request.user,
        )
        return gettext("Step done: %(step)s") % {"step": self._title("terms")}

    def _do_add_number(self, request, obj):
        data = self._form(AddNumberForm, request)
        services.add_number(
            obj, waba_id=data["waba_id"], access_token=data["access_token"], actor=request.user
        )
        return gettext("Number added to the WhatsApp Business account; step done: %(step)s") % {
            "step": self._title("account_created")
        }

    def _do_request_code(self, request, obj):
        data = self._form(RequestCodeForm, request)
        services.request_code(obj, method=data["method"], actor=request.user)
        return gettext("A code was requested by %(method)s; it is valid 10 minutes.") % {
            "method": Onboarding.CodeMethod(data["method"]).label
        }

    def _do_verify_code(self, request, obj):
        # The code goes to the service and nowhere else: not into messages, not into the log.
        data = self._form(VerifyCodeForm, request)
        services.verify_code(obj, code=data["code"], actor=request.user)
        return gettext("Phone number verified; step done: %(step)s") % {
            "step": self._title("number_verified")
        }

    def _do_register(self, request, obj):
        data = self._form(RegisterForm, request)
        channel = services.register_number(obj, pin=data["pin"], actor=request.user)
        return gettext("Number registered; channel “%(channel)s” is active.") % {
            "channel": channel.display_name
        }

    def _do_set_profile(self, request, obj):
        data = self._form(ProfileForm, request)
        logo = data["logo"]
        services.set_business_profile(
            obj,
            about=data["about"],
            description=data["description"],
            email=data["email"],
            address=data["address"],
            websites=[data["website_1"], data["website_2"]],
            vertical=data["vertical"],
            logo=logo.read(),
            logo_name=logo.name,
            actor=request.user,
        )
        return gettext("Business profile and logo set; step done: %(step)s") % {
            "step": self._title("profile")
        }

    def _do_request_badge(self, request, obj):
        data = self._form(BadgeForm, request)
        services.request_badge(
            obj,
            website_url=data["website_url"],
            country=data["country"],
            language=data["language"],
            actor=request.user,
        )
        return gettext("Verified badge requested; Meta decides.")

    def _do_refresh_badge(self, request, obj):
        if services.refresh_badge(obj, actor=request.user):
            return gettext("Badge granted; step done: %(step)s") % {"step": self._title("badge")}
        raise services.OnboardingError(_("Meta has not granted the badge yet."))

    def _do_submit_templates(self, request, obj):
        submitted, refusals = services.submit_templates(obj, actor=request.user)
        for refusal in refusals:
            self.message_user(request, refusal, messages.WARNING)
        if not submitted:
            raise services.OnboardingError(_("No template was submitted."))
        return gettext("%(n)d template(s) submitted for review.") % {"n": submitted}

    def _do_refresh_templates(self, request, obj):
        progress = services.refresh_templates(obj, actor=request.user)
        summary = gettext("Templates: %(a)d approved, %(p)d pending, %(r)d rejected.") % {
            "a": progress.approved,
            "p": progress.pending,
            "r": progress.rejected,
        }
        obj.refresh_from_db()
        if obj.steps.filter(key="templates", state="done").exists():
            return (
                summary + " " + gettext("Step done: %(step)s") % {"step": self._title("templates")}
            )
        return summary
