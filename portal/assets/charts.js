// The charts, from GET /portal/api/stats: incidents per day stacked by
// severity (SVG, with its numbers as a table inside <details> for screen
// readers and anyone who wants exact counts) and incidents per site (HTML
// bars whose labels are ordinary text).
'use strict';

window.TTCharts = (function () {
    var NS = 'http://www.w3.org/2000/svg';
    var MAX_SITES = 12;

    function svg(tag, attrs, text) {
        var node = document.createElementNS(NS, tag);
        Object.keys(attrs || {}).forEach(function (k) {
            node.setAttribute(k, attrs[k]);
        });
        if (text !== undefined) {
            node.textContent = text;
        }
        return node;
    }

    function html(tag, text, className) {
        var node = document.createElement(tag);
        if (text !== undefined) {
            node.textContent = text;
        }
        if (className) {
            node.className = className;
        }
        return node;
    }

    function dayKey(d) {
        return d.toISOString().slice(0, 10);
    }

    // every day from the range's first to its last, plus any day the
    // counts name (they are days in each incident's own time zone)
    function days(stats) {
        var set = new Set();
        var from = new Date(stats.from);
        var to = new Date(new Date(stats.to).getTime() - 1);
        if (!isNaN(from) && !isNaN(to) && to - from < 400 * 86400000) {
            var d = new Date(Date.UTC(from.getUTCFullYear(),
                                      from.getUTCMonth(), from.getUTCDate()));
            for (; d <= to; d.setUTCDate(d.getUTCDate() + 1)) {
                set.add(dayKey(d));
            }
        }
        (stats.per_day || []).forEach(function (r) {
            set.add(String(r.day).slice(0, 10));
        });
        return Array.from(set).sort();
    }

    // a round top for the scale whose half is a whole number too
    function niceMax(n) {
        if (n <= 4) {
            return 4;
        }
        var p = Math.pow(10, Math.floor(Math.log10(n)));
        var steps = [1, 2, 4, 6, 8, 10];
        for (var i = 0; i < steps.length; i++) {
            if (steps[i] * p >= n) {
                return steps[i] * p;
            }
        }
        return 10 * p;
    }

    function shortDay(key) {
        var d = new Date(key + 'T00:00:00Z');
        return new Intl.DateTimeFormat(undefined, { month: 'short',
                                                    day: 'numeric',
                                                    timeZone: 'UTC' })
            .format(d);
    }

    function dataTable(caption, head, rows) {
        var details = html('details', undefined, 'chart-data');
        details.appendChild(html('summary', 'Show the numbers'));
        var table = html('table');
        table.appendChild(html('caption', caption));
        var tr = html('tr');
        head.forEach(function (h) {
            var th = html('th', h);
            th.setAttribute('scope', 'col');
            tr.appendChild(th);
        });
        var thead = html('thead');
        thead.appendChild(tr);
        table.appendChild(thead);
        var tbody = html('tbody');
        rows.forEach(function (r) {
            var row = html('tr');
            r.forEach(function (v, i) {
                var cell = html(i === 0 ? 'th' : 'td', String(v));
                if (i === 0) {
                    cell.setAttribute('scope', 'row');
                }
                row.appendChild(cell);
            });
            tbody.appendChild(row);
        });
        table.appendChild(tbody);
        details.appendChild(table);
        return details;
    }

    function perDay(box, stats, severities) {
        var keys = days(stats);
        var counts = {};            // day -> severity -> n
        var total = 0;
        (stats.per_day || []).forEach(function (r) {
            var k = String(r.day).slice(0, 10);
            var sev = severities.indexOf(r.severity) >= 0 ? r.severity
                                                          : 'OTHER';
            counts[k] = counts[k] || {};
            counts[k][sev] = (counts[k][sev] || 0) + Number(r.count);
            total += Number(r.count);
        });
        var order = severities.concat(['OTHER']);
        var max = 0;
        keys.forEach(function (k) {
            var sum = 0;
            order.forEach(function (s) { sum += (counts[k] || {})[s] || 0; });
            max = Math.max(max, sum);
        });
        var top = niceMax(max);

        // drawn at the box's own width, so text stays its real size
        var W = Math.max(280, Math.round(box.clientWidth || 640));
        var H = 220, left = 34, right = 8, topPad = 10, bottom = 26;
        var plotW = W - left - right, plotH = H - topPad - bottom;
        var n = Math.max(keys.length, 1);
        var slot = plotW / n;
        var barW = Math.max(1, slot * 0.75);

        var root = svg('svg', { viewBox: '0 0 ' + W + ' ' + H,
                                role: 'img',
                                'aria-labelledby': 'per-day-title per-day-desc',
                                width: W, height: H,
                                class: 'chart-svg' });
        root.appendChild(svg('desc', { id: 'per-day-desc' },
            total + ' incidents over ' + keys.length + ' days'
            + (keys.length ? ', ' + keys[0] + ' to '
                             + keys[keys.length - 1] : '') + '.'));

        [0, 0.5, 1].forEach(function (f) {
            var y = topPad + plotH - f * plotH;
            root.appendChild(svg('line', { x1: left, x2: W - right,
                                           y1: y, y2: y, class: 'grid' }));
            root.appendChild(svg('text', { x: left - 4, y: y + 4,
                                           'text-anchor': 'end',
                                           class: 'axis' },
                                 String(Math.round(top * f))));
        });

        var labelEvery = Math.max(1, Math.ceil(n / Math.max(2, Math.floor(plotW / 70))));
        keys.forEach(function (k, i) {
            var x = left + i * slot + (slot - barW) / 2;
            var y = topPad + plotH;
            order.forEach(function (s) {
                var c = (counts[k] || {})[s] || 0;
                if (!c) {
                    return;
                }
                var h = c / top * plotH;
                y -= h;
                var r = svg('rect', { x: x.toFixed(2), y: y.toFixed(2),
                                      width: barW.toFixed(2),
                                      height: h.toFixed(2),
                                      class: 'bar sev-fill-' + s.toLowerCase(),
                                      'data-day': k, 'data-severity': s,
                                      'data-count': c });
                r.appendChild(svg('title', {}, k + ': ' + c + ' '
                                              + s.toLowerCase()));
                root.appendChild(r);
            });
            if (i % labelEvery === 0) {
                root.appendChild(svg('text', { x: (left + i * slot + slot / 2)
                                                  .toFixed(2),
                                               y: H - 8,
                                               'text-anchor': 'middle',
                                               class: 'axis' },
                                     shortDay(k)));
            }
        });

        box.textContent = '';
        if (total === 0) {
            box.appendChild(html('p', 'No incidents in this period.',
                                 'muted empty-chart'));
        }
        box.appendChild(root);
        box.appendChild(dataTable('Incidents per day and severity',
            ['Day'].concat(severities.map(function (s) {
                return s.charAt(0) + s.slice(1).toLowerCase();
            })),
            keys.filter(function (k) { return counts[k]; }).map(function (k) {
                return [k].concat(severities.map(function (s) {
                    return counts[k][s] || 0;
                }));
            })));
    }

    // plain HTML bars: real text that wraps and scales on a phone
    function perSite(box, stats) {
        var rows = (stats.per_site || []).map(function (r) {
            return { name: r.site && r.site.name ? r.site.name
                           : 'Site ' + (r.site ? r.site.id : '?'),
                     count: Number(r.count) };
        });
        // the server names the busiest sites and sums the rest
        var other = stats.other_sites ? Number(stats.other_sites.count) : 0;
        if (rows.length > MAX_SITES || (other > 0 && rows.length)) {
            var keep = rows.length > MAX_SITES ? MAX_SITES - 1 : rows.length;
            var rest = rows.slice(keep).reduce(function (a, r) {
                return a + r.count;
            }, other);
            rows = rows.slice(0, keep);
            rows.push({ name: 'Other sites', count: rest });
        }
        var max = rows.reduce(function (a, r) {
            return Math.max(a, r.count);
        }, 0);

        box.textContent = '';
        if (rows.length === 0) {
            box.appendChild(html('p', 'No incidents in this period.',
                                 'muted empty-chart'));
            return;
        }
        var list = html('ol', undefined, 'site-bars');
        rows.forEach(function (r) {
            var li = html('li');
            li.appendChild(html('span', r.name, 'name'));
            var track = html('span', undefined, 'track');
            track.setAttribute('aria-hidden', 'true');
            var fill = html('span', undefined, 'fill');
            fill.style.width = (max ? r.count / max * 100 : 0).toFixed(1) + '%';
            track.appendChild(fill);
            li.appendChild(track);
            li.appendChild(html('span', String(r.count), 'count'));
            li.setAttribute('data-count', String(r.count));
            list.appendChild(li);
        });
        box.appendChild(list);
    }

    function legend(list, severities) {
        list.textContent = '';
        severities.forEach(function (s) {
            var li = html('li');
            var swatch = html('span', undefined,
                              'swatch sev-bg-' + s.toLowerCase());
            swatch.setAttribute('aria-hidden', 'true');
            li.appendChild(swatch);
            li.appendChild(document.createTextNode(
                s.charAt(0) + s.slice(1).toLowerCase()));
            list.appendChild(li);
        });
    }

    return { perDay: perDay, perSite: perSite, legend: legend };
}());
