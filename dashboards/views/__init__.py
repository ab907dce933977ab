"""The dashboard's pages, each a script that ``dashboards/app.py`` runs through ``st.navigation``."""
