# The same settings through Audiobookshelf's API, with an admin's API token
# (Settings -> Users -> the admin -> API token).
curl -X PATCH \
  -H 'Authorization: Bearer ABS-ADMIN-API-TOKEN' \
  -H 'Content-Type: application/json' \
  --data @audiobookshelf-auth-settings.json \
  https://audiobookshelf.example.com/api/auth-settings
