from django.urls import path

from replies import views

app_name = "replies"

urlpatterns = [
    path("", views.manage, name="manage"),
    path("new/", views.add, name="add"),
    path("search/", views.search, name="search"),
    path("<int:pk>/edit/", views.edit, name="edit"),
    path("<int:pk>/delete/", views.delete, name="delete"),
    path("<int:pk>/rendered/", views.rendered, name="rendered"),
]
