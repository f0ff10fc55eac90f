/*
 * output.c - printing results as cqlsh prints them (cqlsh.py
 * print_formatted_result / print_formatted_result_vertically), and the pager.
 *
 * Table mode:
 *
 *      a | b   | c              <- names, left-aligned, line right-trimmed
 *     ---+-----+-----            <- '-' * width joined by "-+-", framed by '-'
 *      1 | foo | ['x']           <- values right-aligned to the column width
 *                                <- blank line
 *     (1 rows)
 *
 * EXPAND ON prints "@ Row N", a separator sized to the widest name and
 * value, then " name | value" lines, and a blank line after each row.
 * Widths are in display columns (UTF-8 code points), so colour escapes and
 * multi-byte characters never shift the alignment.
 *
 * The pager counts lines written for one statement and, when output is a
 * terminal, pauses with ---MORE--- after a screenful; 'q' skips the rest.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "cli/cli_internal.h"
#include "util/alloc.h"

#define C_HEADER "\x1b[0;1;35m"
#define C_RESET "\x1b[0m"

static int screen_rows(void)
{
	struct winsize ws;
	if (ioctl(STDOUT_FILENO, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 2)
		return ws.ws_row;
	return 24;
}

void coffer_shell_output_begin(struct coffer_shell *sh)
{
	sh->lines = 0;
	sh->skip_rest = false;
}

void coffer_shell_line(struct coffer_shell *sh, const char *text)
{
	if (sh->skip_rest)
		return;
	fputs(text, stdout);
	fputc('\n', stdout);
	if (!sh->pager)
		return;
	if (++sh->lines < screen_rows() - 1)
		return;
	fputs("---MORE---", stdout);
	fflush(stdout);
	/* Read the answer unbuffered, so no typed-ahead statement is swallowed
	 * by stdio behind the line editor's back. */
	char ch, first = 0;
	ssize_t n;
	while ((n = read(STDIN_FILENO, &ch, 1)) == 1 && ch != '\n')
		if (!first)
			first = ch;
	if (n != 1 || first == 'q' || first == 'Q')
		sh->skip_rest = true;
	sh->lines = 0;
}

/* One formatted cell: plain text (for widths) and the coloured form. */
struct cell {
	char *plain;
	char *colored;
	size_t width;
};

static void cell_make(struct coffer_shell *sh, const struct coffer_proto_type *t,
		      struct coffer_slice v, struct cell *c)
{
	struct coffer_buf p = {0}, col = {0};
	coffer_cli_format_value(t, v, false, &p, sh->color ? &col : NULL);
	c->width = coffer_cli_text_width((const char *)p.ptr, p.len);
	c->plain = coffer_xstrdup(coffer_buf_cstr(&p));
	c->colored = sh->color ? coffer_xstrdup(coffer_buf_cstr(&col)) : NULL;
	coffer_buf_free(&p);
	coffer_buf_free(&col);
}

static void pad(struct coffer_buf *b, size_t n)
{
	while (n--)
		coffer_buf_put_u8(b, ' ');
}

static void put_cell(struct coffer_shell *sh, struct coffer_buf *b, const struct cell *c)
{
	const char *s = sh->color ? c->colored : c->plain;
	coffer_buf_put(b, s, strlen(s));
}

static void put_name(struct coffer_shell *sh, struct coffer_buf *b, const char *name)
{
	if (sh->color)
		coffer_buf_printf(b, "%s%s%s", C_HEADER, name, C_RESET);
	else
		coffer_buf_put(b, name, strlen(name));
}

static void rtrim(struct coffer_buf *b)
{
	while (b->len && b->ptr[b->len - 1] == ' ')
		b->len--;
}

static void print_table(struct coffer_shell *sh, const struct coffer_client_result *r,
			struct cell *cells, size_t *widths)
{
	size_t nc = r->n_columns;
	struct coffer_buf line = {0};

	coffer_buf_put_u8(&line, ' ');
	for (size_t j = 0; j < nc; j++) {
		if (j)
			coffer_buf_put(&line, " | ", 3);
		put_name(sh, &line, r->names[j]);
		pad(&line, widths[j] - coffer_cli_text_width(r->names[j], strlen(r->names[j])));
	}
	rtrim(&line);
	coffer_shell_line(sh, coffer_buf_cstr(&line));

	coffer_buf_reset(&line);
	coffer_buf_put_u8(&line, '-');
	for (size_t j = 0; j < nc; j++) {
		if (j)
			coffer_buf_put(&line, "-+-", 3);
		for (size_t k = 0; k < widths[j]; k++)
			coffer_buf_put_u8(&line, '-');
	}
	coffer_buf_put_u8(&line, '-');
	coffer_shell_line(sh, coffer_buf_cstr(&line));

	for (size_t i = 0; i < r->n_rows && !sh->skip_rest; i++) {
		coffer_buf_reset(&line);
		coffer_buf_put_u8(&line, ' ');
		for (size_t j = 0; j < nc; j++) {
			const struct cell *c = &cells[i * nc + j];
			if (j)
				coffer_buf_put(&line, " | ", 3);
			pad(&line, widths[j] - c->width);
			put_cell(sh, &line, c);
		}
		coffer_shell_line(sh, coffer_buf_cstr(&line));
	}
	coffer_buf_free(&line);
}

static void print_vertical(struct coffer_shell *sh, const struct coffer_client_result *r,
			   struct cell *cells)
{
	size_t nc = r->n_columns, wname = 0, wval = 0;
	struct coffer_buf line = {0};

	for (size_t j = 0; j < nc; j++) {
		size_t w = coffer_cli_text_width(r->names[j], strlen(r->names[j]));
		if (w > wname)
			wname = w;
	}
	for (size_t i = 0; i < r->n_rows * nc; i++)
		if (cells[i].width > wval)
			wval = cells[i].width;
	for (size_t i = 0; i < r->n_rows && !sh->skip_rest; i++) {
		coffer_buf_reset(&line);
		coffer_buf_printf(&line, "@ Row %zu", i + 1);
		coffer_shell_line(sh, coffer_buf_cstr(&line));
		coffer_buf_reset(&line);
		coffer_buf_put_u8(&line, '-');
		for (size_t k = 0; k < wname; k++)
			coffer_buf_put_u8(&line, '-');
		coffer_buf_put(&line, "-+-", 3);
		for (size_t k = 0; k < wval; k++)
			coffer_buf_put_u8(&line, '-');
		coffer_buf_put_u8(&line, '-');
		coffer_shell_line(sh, coffer_buf_cstr(&line));
		for (size_t j = 0; j < nc; j++) {
			coffer_buf_reset(&line);
			coffer_buf_put_u8(&line, ' ');
			put_name(sh, &line, r->names[j]);
			pad(&line, wname - coffer_cli_text_width(r->names[j], strlen(r->names[j])));
			coffer_buf_put(&line, " | ", 3);
			put_cell(sh, &line, &cells[i * nc + j]);
			coffer_shell_line(sh, coffer_buf_cstr(&line));
		}
		coffer_shell_line(sh, "");
	}
	coffer_buf_free(&line);
}

void coffer_shell_print_rows(struct coffer_shell *sh, const struct coffer_client_result *r)
{
	size_t nc = r->n_columns, n = r->n_rows * nc;
	struct cell *cells = coffer_xcalloc(n ? n : 1, sizeof(*cells));
	size_t *widths = coffer_xcalloc(nc ? nc : 1, sizeof(*widths));
	char count[48];

	for (size_t j = 0; j < nc; j++)
		widths[j] = coffer_cli_text_width(r->names[j], strlen(r->names[j]));
	for (size_t i = 0; i < r->n_rows; i++)
		for (size_t j = 0; j < nc; j++) {
			struct cell *c = &cells[i * nc + j];
			cell_make(sh, r->types[j], coffer_client_cell(r, i, j), c);
			if (c->width > widths[j])
				widths[j] = c->width;
		}

	coffer_shell_line(sh, "");
	if (sh->expand)
		print_vertical(sh, r, cells);
	else
		print_table(sh, r, cells, widths);
	if (!sh->expand)
		coffer_shell_line(sh, "");
	snprintf(count, sizeof(count), "(%zu rows)", r->n_rows);
	coffer_shell_line(sh, count);
	if (sh->interactive)
		coffer_shell_line(sh, "");

	for (size_t i = 0; i < n; i++) {
		free(cells[i].plain);
		free(cells[i].colored);
	}
	free(cells);
	free(widths);
}
