# %post of pgsql-ra: the OCF names Pacemaker looks up, as links to the one binary
# (cargo-generate-rpm cannot put symbolic links in the package).
mkdir -p /usr/lib/ocf/resource.d/upfront
ln -sfn /usr/sbin/pgsql-ra /usr/lib/ocf/resource.d/upfront/pgsql
ln -sfn /usr/sbin/pgsql-ra /usr/lib/ocf/resource.d/upfront/pgsqlms
