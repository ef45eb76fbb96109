"""The admin-integrated dashboard: views, urls, forms and the data they read."""
