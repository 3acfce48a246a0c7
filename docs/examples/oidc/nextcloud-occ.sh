# Nextcloud's user_oidc app with a provider named "Usher". Put the secret Usher printed in a
# file first, readable by the web server's user only.
cd /var/www/nextcloud
sudo -u www-data php occ app:install user_oidc
sudo -u www-data php occ user_oidc:provider Usher \
  --clientid=nextcloud \
  --clientsecret-file=/etc/nextcloud/usher-client-secret \
  --discoveryuri=https://usher.example.com/.well-known/openid-configuration \
  --scope='openid email profile groups' \
  --mapping-display-name=name \
  --mapping-email=email \
  --mapping-avatar=picture \
  --group-provisioning=1 \
  --mapping-groups=groups
