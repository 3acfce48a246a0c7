# Nextcloud with pretty URLs; without them its callback is .../index.php/apps/user_oidc/code,
# so register that one instead (Usher matches redirect URIs exactly).
usher oidc client add nextcloud --name Nextcloud --group 4 \
  --redirect-uri https://nextcloud.example.com/apps/user_oidc/code
