"""Reader pages: a study is addressed by its number, a case only by its token."""

from django.urls import path, register_converter

from ecgstudy.studies import views


class TokenConverter:
    """A token as ``services.new_token`` makes it: URL-safe base64 characters only,
    so that nothing else (a NUL, a dot, a slash) ever reaches the database."""

    regex = "[A-Za-z0-9_-]+"

    def to_python(self, value: str) -> str:
        return value

    def to_url(self, value: str) -> str:
        return value


register_converter(TokenConverter, "token")

app_name = "studies"

urlpatterns = [
    path("studies/", views.StudyListView.as_view(), name="list"),
    path("studies/<int:study_id>/", views.StudyIntroView.as_view(), name="intro"),
    path(
        "studies/<int:study_id>/continue/",
        views.ContinueView.as_view(),
        name="continue",
    ),
    path("studies/<int:study_id>/done/", views.DoneView.as_view(), name="done"),
    path("case/<token:token>/", views.CaseView.as_view(), name="case"),
    path(
        "case/<token:token>/practice/",
        views.PracticeRevealView.as_view(),
        name="practice",
    ),
    path("invite/<str:token>/", views.InvitationView.as_view(), name="invitation"),
]
