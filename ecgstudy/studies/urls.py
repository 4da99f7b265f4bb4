"""Reader pages: a study is addressed by its number, a case only by its token."""

from django.urls import path

from ecgstudy.studies import views

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
    path("case/<str:token>/", views.CaseView.as_view(), name="case"),
    path("invite/<str:token>/", views.InvitationView.as_view(), name="invitation"),
]
