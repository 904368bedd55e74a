"""Helpers shared by the study tests."""



