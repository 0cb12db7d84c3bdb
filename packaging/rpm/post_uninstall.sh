# %postun of pgsql-ra: on erase ($1 = 0), not on upgrade, remove the OCF links
# made by %post, and the directories the package does not own (cargo-generate-rpm
# records no directories) if nothing else is in them.
if [ "$1" = 0 ]; then
    for name in pgsql pgsqlms; do
        link=/usr/lib/ocf/resource.d/upfront/$name
        if [ -L "$link" ] && [ "$(readlink "$link")" = /usr/sbin/pgsql-ra ]; then
            rm -f "$link"
        fi
    done
    rmdir /usr/lib/ocf/resource.d/upfront /usr/share/doc/pgsql-ra 2>/dev/null || :
fi
